"""Linux socket constants Python 3.11 lacks, and the raw-socket privilege check.

Layer: active/transport (an edge). Constants only, plus one read of
/proc/self/status; it opens no socket and sends nothing. The values come from
the Linux UAPI headers named next to each, which have not changed since they
were added (they are ABI).
"""

from __future__ import annotations

import sys

# <linux/in.h>
IP_MTU_DISCOVER = 10
IP_RECVERR = 11
IP_RECVTTL = 12
IP_MTU = 14
IP_PMTUDISC_DONT = 0
"""Never set DF: the kernel (and routers) may fragment."""
IP_PMTUDISC_PROBE = 3
"""Set DF, ignore the cached path MTU: send up to the device MTU, else EMSGSIZE."""

# <linux/in6.h>
IPV6_MTU_DISCOVER = 23
IPV6_MTU = 24
IPV6_RECVERR = 25
IPV6_PMTUDISC_PROBE = 3
IPV6_DONTFRAG = 62
IPV6_RECVHOPLIMIT = 51
IPV6_HOPLIMIT = 52
IPV6_UNICAST_HOPS = 16

# <linux/errqueue.h>: sock_extended_err.ee_origin
SO_EE_ORIGIN_LOCAL = 1
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3

# <asm-generic/socket.h> (x86, arm, riscv: the 64-bit `_OLD` values, whose timespec is
# two native longs), <linux/net_tstamp.h>: kernel timestamps of packets.
SO_TIMESTAMPNS = 35
"""Receive timestamps: an SCM_TIMESTAMPNS control message (struct timespec) per packet."""
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
SO_TIMESTAMPING = 37
"""Transmit (and receive) timestamps: SCM_TIMESTAMPING (three struct timespec, [0] the
software one); transmit stamps arrive on the error queue."""
SCM_TIMESTAMPING = SO_TIMESTAMPING
SOF_TIMESTAMPING_TX_SOFTWARE = 1 << 1
"""Stamp each packet as it leaves for the device (the driver's skb_tx_timestamp)."""
SOF_TIMESTAMPING_SOFTWARE = 1 << 4
"""Report software timestamps (in SCM_TIMESTAMPING's first timespec)."""
SOF_TIMESTAMPING_OPT_TSONLY = 1 << 11
"""Transmit stamps without a copy of the packet."""
SO_EE_ORIGIN_TIMESTAMPING = 4
"""sock_extended_err.ee_origin of a transmit timestamp on the error queue."""

# <linux/tcp.h>
TCP_MAXSEG = 2
TCP_INFO = 11

# <linux/capability.h>
CAP_NET_RAW = 13


def has_cap_net_raw(status_path: str = "/proc/self/status") -> bool:
    """Whether this process may open raw sockets (CAP_NET_RAW in its effective set).

    Root normally has it; a file capability (`setcap cap_net_raw+ep`) gives it
    to an ordinary user. A process inside a user namespace may have the bit and
    still be refused by the kernel: the socket call stays the final word.

    Args:
        status_path: the proc status file to read (a parameter for tests).

    Returns:
        True when the effective capability set holds CAP_NET_RAW; False when it
        does not, or when this is not Linux.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        with open(status_path, "rb") as status:
            for line in status:
                if line.startswith(b"CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_NET_RAW & 1)
    except (OSError, ValueError, IndexError):
        return False
    return False
