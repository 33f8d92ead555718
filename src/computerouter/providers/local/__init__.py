"""The ``local`` provider: compute sessions as isolated process trees on this machine.

Isolation (see :mod:`.host` for how it is chosen): bubblewrap namespaces (pid, net, ipc, uts,
cgroup; mount with a read-only host view), a dedicated unprivileged uid per session with no
capabilities, cgroup limits on cpu, memory and pids, ingress only over a per-session unix
socket, egress only through host-side relays named by the launch spec. Suspend freezes the
cgroup; archive is ``tar | zstd`` of the workspace.

Modules, by responsibility: :mod:`.provider` (the Provider: locking, error translation and the
order of each operation), :mod:`.layout` (where a root keeps each instance: paths, cgroup,
process tree, uid), :mod:`.create` (making an instance, adopting a retried create, starting a
session for create and restore), :mod:`.observe` (reading an instance's state and footprint),
:mod:`.teardown` (removing what an instance holds), :mod:`.execute` (running a command inside a
session), :mod:`.launch` (starting a tree and its egress relays), :mod:`.host` (what the machine
offers; ``doctor``), :mod:`.sandbox` and :mod:`.mounts` (command lines and filesystem view),
:mod:`.cgroups` and :mod:`.tree` (process trees), :mod:`.metadata`, :mod:`.uids` and
:mod:`.locks` (state on disk), :mod:`.states` (state mapping), :mod:`.archive`, :mod:`.health`,
:mod:`.errors`, :mod:`.fsutil`.
"""

from computerouter.providers.local.host import LocalHost, probe
from computerouter.providers.local.provider import Footprint, LocalProvider

__all__ = ["Footprint", "LocalHost", "LocalProvider", "probe"]
