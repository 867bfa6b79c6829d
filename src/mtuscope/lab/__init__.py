"""Labs of network namespaces: real kernels, real routers, for tests and demos.

Layer: edge. `topology` and `scenarios` are pure declarations (what a lab is and
what is true of it); `lab`, `build`, `capture` and `netns` build them on the local
kernel with `ip`, `ethtool`, `sysctl`, `nft` and `tcpdump`; `traffic` is a
standard-library TCP server and client run inside namespaces, and the HTTP
listener every `mtuscope lab up` starts on the server node (`LISTENER_PORT`); `state` records
labs kept running between processes (`mtuscope lab up`). Nothing here
sends traffic outside the namespaces it made, and nothing in the cores may
import this package.
"""

from mtuscope.active.probe import ProbeKind
from mtuscope.lab.capture import Capture, CaptureStats
from mtuscope.lab.lab import Lab
from mtuscope.lab.netns import PREFIX, down_all, lab_namespaces
from mtuscope.lab.rulesets import (
    WITHHOLD_TOO_BIG,
    clamp_mss_ruleset,
    only_tcp_port_ruleset,
    rewrite_too_big_mtu_ruleset,
)
from mtuscope.lab.scenarios import FILTERED_PORT, SCENARIOS, get_scenario
from mtuscope.lab.state import LabRecord, state_dir
from mtuscope.lab.topology import (
    Clamp,
    DirectionTruth,
    Drop,
    Link,
    LinkKind,
    Node,
    Role,
    Route,
    Scenario,
)
from mtuscope.lab.traffic import LISTENER_BYTES, LISTENER_PORT

__all__ = [
    "Capture",
    "CaptureStats",
    "Clamp",
    "DirectionTruth",
    "Drop",
    "FILTERED_PORT",
    "LISTENER_BYTES",
    "LISTENER_PORT",
    "Lab",
    "LabRecord",
    "Link",
    "LinkKind",
    "Node",
    "PREFIX",
    "ProbeKind",
    "Role",
    "Route",
    "SCENARIOS",
    "Scenario",
    "WITHHOLD_TOO_BIG",
    "clamp_mss_ruleset",
    "down_all",
    "get_scenario",
    "lab_namespaces",
    "only_tcp_port_ruleset",
    "rewrite_too_big_mtu_ruleset",
    "state_dir",
]
