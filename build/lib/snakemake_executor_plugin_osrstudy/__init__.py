"""Snakemake finds its executor plugins as top-level packages named snakemake_executor_plugin_<name>
(`executor: osrstudy` in workflow/profiles/slurm). The executor lives in osrstudy.slurm_executor."""
from osrstudy.slurm_executor import Executor, ExecutorSettings, common_settings

__all__ = ["Executor", "ExecutorSettings", "common_settings"]
