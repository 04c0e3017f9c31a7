"""The YAML reader for study configs: YAML 1.2's numbers, and no silent surprises.

PyYAML follows YAML 1.1, where `1e-3` (no dot) is a string, so `lr: 1e-3` would fail the schema
as "not a number"; and a key given twice silently keeps the last value. Here both behave as a
reader of the file expects: `1e-3` is a float, a repeated key is an error naming its line.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

# YAML 1.2 core schema floats (1e-3, 1.5, .5, 1.e3, inf, nan), replacing 1.1's stricter pattern
FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class StrictLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 floats that refuses duplicate keys."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    f"found the key {key!r} twice (first on line {seen[key] + 1}); a YAML mapping keeps only "
                    "the last value, so remove or rename one of them", key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


# The float resolver is keyed by first character; drop 1.1's entries, then add 1.2's.
StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", FLOAT, list("-+0123456789."))


def load(source):
    """Parse YAML text, or a file by path (its name then appears in every error mark)."""
    if isinstance(source, Path):
        with open(source, encoding="utf-8") as handle:
            return yaml.load(handle, Loader=StrictLoader)
    return yaml.load(source, Loader=StrictLoader)
