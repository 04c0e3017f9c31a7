"""The fixtures that install system packages skip with one clear reason where they cannot."""
import os

import system_packages
from system_packages import ensure


def test_present_packages_need_no_install():
    assert ensure("thing", lambda: True, ["false"]) is None  # the failing command never runs


def test_not_root_skips_with_the_reason_and_installs_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    marker = tmp_path / "ran"
    reason = ensure("Thing (Debian package thing)", lambda: False, ["touch", str(marker)])
    assert reason == "Thing (Debian package thing) is not installed, and installing it needs root"
    assert not marker.exists()


def test_no_apt_get_skips_with_the_reason(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(system_packages.shutil, "which", lambda name: None)
    assert ensure("Thing", lambda: False, ["true"]) == "Thing is not installed, and this machine has no apt-get"


def test_failed_install_names_the_command_and_its_output(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(system_packages.shutil, "which", lambda name: "/usr/bin/" + name)
    reason = ensure("Thing", lambda: False, ["sh", "-c", "echo E: Unable to locate package thing >&2; exit 100"])
    assert reason.startswith("Thing is not installed, and `sh -c echo E: Unable")
    assert reason.endswith("failed: E: Unable to locate package thing")


def test_an_install_that_leaves_the_files_missing_is_a_skip_not_a_pass(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(system_packages.shutil, "which", lambda name: "/usr/bin/" + name)
    assert ensure("Thing", lambda: False, ["true"]) == "Thing is not installed, and its installation left it incomplete"
