"""The control plane's Lua scripts (no Redis needed)."""

from __future__ import annotations

import re


def test_lua_scripts_take_every_key_through_keys() -> None:
    # Redis Cluster routes a script by its KEYS: a key built inside the script (from ARGV or
    # from another key) may live on another node.
    from orchestrator.control import leases, params

    scripts = {"claim": leases.CLAIM, "renew": leases.RENEW, "release": leases.RELEASE,
               "put": params.PUT, "delete": params.DELETE}
    for name, body in scripts.items():
        for cmd, key in re.findall(r"redis\.call\('(\w+)',?\s*([^,)]*)", body):
            if cmd in ("TIME", "PUBLISH"):  # no key; a channel is not a key
                continue
            assert key.startswith("KEYS["), f"{name}: {cmd} {key}"
