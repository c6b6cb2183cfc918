"""The control plane on Redis: parameter center, camera leases with fencing, monitor."""
