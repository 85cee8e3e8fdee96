"""`cellmodel cluster --option field=value`: overrides of the fit's options, each typed like
its default and range-checked before the data is read."""

from __future__ import annotations

from typing import Any

from cli.common import parse_options
from genekb.errors import UsageError


def cluster_options(pairs: list[str]) -> dict[str, Any]:
    """`field=value` overrides of ClusterOptions, typed like the field's default."""
    import dataclasses

    from cellmodel.cluster.fit import ClusterOptions
    from cellmodel.cluster.options import parse_options as parse_cluster_options

    fields = {f.name: f for f in dataclasses.fields(ClusterOptions)}
    defaults = ClusterOptions()
    parsed: dict[str, Any] = {}
    for key, value in parse_options(pairs, "--option").items():
        if key not in fields:
            raise UsageError(
                f"unknown cluster option {key!r}; choose from {', '.join(sorted(fields))}"
            )
        default = getattr(defaults, key)
        try:
            if value.lower() == "none" and "None" in str(fields[key].type):
                parsed[key] = None
            elif isinstance(default, bool):
                parsed[key] = _BOOLEANS[value.lower()]
            elif isinstance(default, tuple):
                parsed[key] = tuple(int(v) for v in value.split(","))
            else:
                parsed[key] = type(default)(value)
        except (ValueError, KeyError):
            raise UsageError(
                f"cluster option {key}={value!r} is not a {type(default).__name__}"
            ) from None
    parse_cluster_options(parsed)  # ranges refused now, not after the data is read
    return parsed


_BOOLEANS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
