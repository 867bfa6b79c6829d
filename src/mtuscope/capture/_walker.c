/*
 * _walker.c - the compiled record walker of mtuscope.
 *
 * Layer: capture/. Walks the pcap/pcapng packet records of one buffer and, for
 * every frame, the link layer and tunnels down to the innermost IP header. It
 * only reads the buffer it is given and writes the two arrays it is given: no
 * file I/O, no allocation per packet, no numpy headers (the buffer protocol
 * only). The GIL is released around the loop.
 *
 * The same logic, line for line, lives in pure Python in walk.py
 * (walk_py); the tests check that both produce byte-identical output. Any
 * change here must be mirrored there. The semantics are documented in walk.py.
 *
 * Two more passes over a chunk's decoded columns live here for speed, each with
 * its twin in walk.py and one hash table allocated per call: flows() keys the TCP
 * rows by connection and sums each direction (flows_py), sizes() groups the data
 * segments by direction and payload size (sizes_py), chains() unwraps each
 * direction's sequence numbers and finds its retransmissions, new-high records and
 * jumps (chains_py). passive/chunk.py calls them. transport() reads the fixed
 * transport fields of a decoded chunk (decode.py, _transport_np), network() its
 * fixed IPv4 and IPv6 header fields (_network_np).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#define HEADER_BYTES 192
#define NO_OFFSET 0xFFFFu
#define WALK_MAX 65000u /* frames are walked as if cut here (offsets are uint16) */
#define MAX_DEPTH 8     /* nested IP headers */
#define BLOCK_SLACK 65536u

/*
 * Header fields the walker reads, named after wire/'s layout declarations
 * (IPV4_LAYOUT in wire/ipv4.py, ...): <LAYOUT>_AT_<FIELD> is the field's offset,
 * <LAYOUT>_SIZE the fixed header's size. tests/capture/test_walker_layout.py checks
 * every one of them against the Python declaration.
 */
#define IPV4_AT_VERSION_IHL 0
#define IPV4_AT_FLAGS_FRAGMENT 6
#define IPV4_AT_PROTO 9
#define IPV4_SIZE 20
#define IPV6_AT_VERSION_CLASS_FLOW 0
#define IPV6_AT_NEXT_HEADER 6
#define IPV6_SIZE 40
#define IPV6_FRAGMENT_AT_NEXT_HEADER 0
#define IPV6_FRAGMENT_AT_OFFSET_FLAGS 2
#define IPV6_FRAGMENT_SIZE 8
#define UDP_AT_SPORT 0
#define UDP_AT_DPORT 2
#define UDP_SIZE 8
/* the next-header and length bytes that open the other extension headers and AH */
#define IPV6_EXTENSION_AT_NEXT_HEADER 0
#define IPV6_EXTENSION_AT_LENGTH 1

/* wire.enums.LinkType: the pcap LINKTYPE_* values walked (checked by the same test) */
#define LINKTYPE_NULL 0
#define LINKTYPE_ETHERNET 1
#define LINKTYPE_PPP 9
#define LINKTYPE_RAW_DLT12 12
#define LINKTYPE_RAW_DLT14 14
#define LINKTYPE_PPP_HDLC 50
#define LINKTYPE_PPP_ETHER 51
#define LINKTYPE_RAW 101
#define LINKTYPE_C_HDLC 104
#define LINKTYPE_IEEE802_11 105
#define LINKTYPE_LOOP 108
#define LINKTYPE_LINUX_SLL 113
#define LINKTYPE_IEEE802_11_RADIOTAP 127
#define LINKTYPE_ARCNET_LINUX 129
#define LINKTYPE_PPI 192
#define LINKTYPE_PPP_WITH_DIR 204
#define LINKTYPE_IPV4 228
#define LINKTYPE_IPV6 229
#define LINKTYPE_NFLOG 239
#define LINKTYPE_IPOIB 242
#define LINKTYPE_PKTAP 258
#define LINKTYPE_LINUX_SLL2 276
#define NO_LINKTYPE 0xFFFFu /* records.NO_LINKTYPE: custom blocks, bad interface ids */

enum { ST_OK = 0, ST_NOT_IP = 1, ST_UNKNOWN = 2, ST_TRUNC = 3, ST_MALF = 4, ST_UNDECODED = 5 };
enum { STOP_END = 0, STOP_FULL = 1, STOP_BLOCK = 2, STOP_CORRUPT = 3 };

/* table.Encap */
#define E_VLAN (1u << 0)
#define E_QINQ (1u << 1)
#define E_PPPOE (1u << 2)
#define E_MPLS (1u << 3)
#define E_IPIP (1u << 4)
#define E_SIXIN4 (1u << 5)
#define E_FOURIN6 (1u << 6)
#define E_SIXIN6 (1u << 7)
#define E_GRE (1u << 8)
#define E_VXLAN (1u << 9)
#define E_GENEVE (1u << 10)
#define E_GTPU (1u << 11)
#define E_TEREDO (1u << 12)
#define E_ETHER_INNER (1u << 13)
#define E_L2TP (1u << 14)
#define E_CAPWAP (1u << 15)
#define E_AYIYA (1u << 16)

/* records.RECORD_DTYPE, native byte order, 48 bytes, no holes */
typedef struct {
    int64_t file_off;
    uint32_t ts_hi, ts_lo, caplen, wirelen, encap;
    uint16_t iface, linktype, l3_off, l4_off, v6frag_off, encap_overhead, hdr_len;
    uint8_t family, l4_proto, status, pad[3];
} rec_t;

_Static_assert(sizeof(rec_t) == 48, "record layout must match RECORD_DTYPE");

static inline uint32_t u16be(const uint8_t *p) { return ((uint32_t)p[0] << 8) | p[1]; }

static inline uint32_t rd16(const uint8_t *p, int be)
{
    return be ? (((uint32_t)p[0] << 8) | p[1]) : (((uint32_t)p[1] << 8) | p[0]);
}

static inline uint32_t rd32(const uint8_t *p, int be)
{
    if (be)
        return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

enum { N_ETYPE, N_ETHER, N_MPLS, N_IPVER, N_PPP, N_GRE, N_IP4, N_IP6, N_WLAN };

/* How the next IEEE 802.11 header is laid out (N_WLAN). */
#define WF_SWAP 1u /* frame control bytes swapped (CAPWAP, as Wireshark's capwap.swap_fc) */
#define WF_PAD 2u  /* radiotap "data pad": the 802.11 header is padded to 4 bytes */

/* Where a UDP port leads. */
enum { U_NONE, U_VXLAN, U_GENEVE, U_GTPU, U_TEREDO, U_GRE, U_L2TP, U_CAPWAP, U_AYIYA };

static inline int udp_tunnel(uint32_t port)
{
    switch (port) {
    case 4789: return U_VXLAN;
    case 6081: return U_GENEVE;
    case 2152: return U_GTPU;
    case 3544: return U_TEREDO;
    case 4754: return U_GRE;
    case 1701: return U_L2TP;
    case 5247: return U_CAPWAP;
    case 5072: return U_AYIYA;
    default: return U_NONE;
    }
}

/* Where a code names IP (N_IP4, N_IP6), or -1: ethertypes, PPP protocols (RFC 1332,
 * RFC 5072), IP version nibbles. walk.py: _ETYPE_NEXT, _PPP_NEXT, _VERSION_NEXT. */
static inline int etype_next(uint32_t et)
{
    return et == 0x0800 ? N_IP4 : et == 0x86DD ? N_IP6 : -1;
}
static inline int ppp_next(uint32_t pp) { return pp == 0x21 ? N_IP4 : pp == 0x57 ? N_IP6 : -1; }
/* PPP protocols that carry IP in a form not decoded here (RFC 1144 Van Jacobson TCP/IP
 * header compression 0x2D/0x2F, RFC 1962 compressed datagrams 0xFB/0xFD, RFC 1990
 * multilink fragments 0x3D): counted as UNDECODED, never dropped silently.
 * walk.py: _PPP_UNDECODED. */
static inline int ppp_undecoded(uint32_t pp)
{
    return pp == 0x2D || pp == 0x2F || pp == 0x3D || pp == 0xFB || pp == 0xFD;
}
static inline int version_next(uint32_t nib) { return nib == 4 ? N_IP4 : nib == 6 ? N_IP6 : -1; }

#define ARPHRD_NETLINK 824 /* Linux SLL/SLL2 carrying netlink messages, not IP */

/* Link types whose fixed header names an ethertype: its length, where the ethertype
 * is, where an ARPHRD type is (0: none). walk.py: _ETYPE_LINKS. */
static inline int etype_link(uint32_t lt, uint32_t *hl, uint32_t *at, uint32_t *arphrd)
{
    switch (lt) {
    case LINKTYPE_IPOIB: /* tcpdump's layout: 2 x 20-byte addresses, type, 2 reserved */
        *hl = 44, *at = 40, *arphrd = 0;
        return 1;
    case LINKTYPE_ETHERNET: *hl = 14, *at = 12, *arphrd = 0; return 1;
    case LINKTYPE_LINUX_SLL: *hl = 16, *at = 14, *arphrd = 2; return 1;
    case LINKTYPE_LINUX_SLL2: *hl = 20, *at = 0, *arphrd = 8; return 1;
    case LINKTYPE_C_HDLC: *hl = 4, *at = 2, *arphrd = 0; return 1;
    default: return 0;
    }
}

/* Walk one frame of `caplen` bytes at `d` with link type `lt`; fill `r` and its block row. */
static void walk_frame(const uint8_t *d, uint32_t caplen, uint32_t lt, rec_t *r, uint8_t *row)
{
    uint32_t len = caplen < WALK_MAX ? caplen : WALK_MAX;
    uint32_t off = 0, et = 0, pend = 0, encap = 0, link_end = 0, depth = 0, tags = 0;
    uint32_t l3 = NO_OFFSET, l4 = NO_OFFSET, v6f = NO_OFFSET, proto = 0, fam = 0;
    uint32_t status = ST_OK, hdr_len = 0, shift = 0, wflags = 0, et_at = 0, arphrd_at = 0;
    uint32_t pp = 0;
    int next, ppp_link = 0;

/* stop: the frame carries no (further) IP; outside a tunnel that means NOT_IP */
#define NOT_IP_STOP                       \
    do {                                  \
        if (!fam) status = ST_NOT_IP;     \
        goto done;                        \
    } while (0)
#define NEED(n)                           \
    do {                                  \
        if ((uint64_t)(n) > len) {        \
            status = ST_TRUNC;            \
            goto done;                    \
        }                                 \
    } while (0)

relink:
    if (etype_link(lt, &off, &et_at, &arphrd_at)) { /* a fixed header naming an ethertype */
        NEED(off);
        if (arphrd_at && u16be(d + arphrd_at) == ARPHRD_NETLINK) NOT_IP_STOP;
        et = u16be(d + et_at);
        link_end = off;
        next = N_ETYPE;
    } else switch (lt) {
    case LINKTYPE_PPI: case LINKTYPE_PKTAP: { /* a header naming the link type that follows */
        uint32_t hl;
        NEED(8);
        hl = lt == LINKTYPE_PPI ? rd16(d + 2, 0) : rd32(d, 0);
        lt = rd32(d + 4, 0);
        if (hl < 8 || lt == LINKTYPE_PPI || lt == LINKTYPE_PKTAP) {
            status = ST_MALF;
            goto done;
        }
        NEED(hl);
        d += hl;
        len -= hl;
        shift = hl;
        goto relink;
    }
    case LINKTYPE_RAW_DLT12: case LINKTYPE_RAW_DLT14: case LINKTYPE_RAW: /* version nibble */
        next = N_IPVER;
        break;
    case LINKTYPE_IPV4: next = N_IP4; break; /* (an IPv6 header there is taken, as Wireshark) */
    case LINKTYPE_IPV6: next = N_IP6; break;
    case LINKTYPE_NULL: case LINKTYPE_LOOP: { /* NULL: host byte order, either; LOOP: network */
        uint32_t af;
        NEED(4);
        af = rd32(d, lt == LINKTYPE_LOOP);
        if (lt == LINKTYPE_NULL && (af & 0xFFFF0000u)) { /* Wireshark's packet-null.c heuristics */
            if (!(af & 0xFF000000u) && (af & 0x00FF0000u) < 0x00060000u) af >>= 16;
            else af = rd32(d, 1);
        }
        off = link_end = 4;
        if (af > 1500) { /* an ethertype, not an AF_ value */
            et = af & 0xFFFF;
            next = N_ETYPE;
        } else if (af == 2) next = N_IP4;
        else if (af == 24 || af == 28 || af == 30) next = N_IP6;
        else NOT_IP_STOP;
        break;
    }
    case LINKTYPE_NFLOG: { /* NFLOG: 4-byte header, then TLVs (host order, little endian here) */
        uint32_t q = 4, tl, tt;
        NEED(4);
        for (;;) {
            NEED(q + 4);
            tl = rd16(d + q, 0);
            tt = rd16(d + q + 2, 0);
            if (tl < 4) {
                status = ST_MALF;
                goto done;
            }
            if (tt == 9) break;
            q += (tl + 3u) & ~3u;
        }
        off = link_end = q + 4;
        next = N_IPVER;
        break;
    }
    case LINKTYPE_PPP: case LINKTYPE_PPP_HDLC: /* at link level its header is the link header */
        next = N_PPP;
        break;
    case LINKTYPE_PPP_WITH_DIR: /* a direction byte, then PPP */
        NEED(1);
        off = 1;
        next = N_PPP;
        break;
    case LINKTYPE_PPP_ETHER: /* PPPoE (RFC 2516) without Ethernet: session data (code 0) */
        NEED(6);
        if (d[1] != 0) NOT_IP_STOP;
        pend |= E_PPPOE; /* its bytes count as encapsulation, as over Ethernet */
        off = 6;
        next = N_PPP;
        break;
    case LINKTYPE_ARCNET_LINUX: { /* source, destination, 2-byte offset, protocol id */
        uint32_t pid;
        NEED(5);
        pid = d[4];
        /* RFC 1051 ids (and diagnose, BACnet) end there; RFC 1201 adds split flag, sequence */
        off = link_end = pid == 0xF0 || pid == 0xF1 || pid == 0x80 || pid == 0xCD ? 5 : 8;
        if (pid == 0xF0 || pid == 0xD4) next = N_IP4;
        else if (pid == 0xC4) next = N_IP6;
        else NOT_IP_STOP;
        NEED(off);
        break;
    }
    case LINKTYPE_IEEE802_11: /* IEEE 802.11 */
        next = N_WLAN;
        break;
    case LINKTYPE_IEEE802_11_RADIOTAP: { /* version, pad, LE length, present words (bit 31: more) */
        uint32_t rl, q = 4, pres;
        NEED(8);
        rl = rd16(d + 2, 0);
        if (rl < 8) {
            status = ST_MALF;
            goto done;
        }
        NEED(rl);
        pres = rd32(d + 4, 0);
        while (rd32(d + q, 0) & 0x80000000u) {
            q += 4;
            if (q + 4 > rl) {
                status = ST_MALF;
                goto done;
            }
        }
        q += 4;
        if (pres & 1) q = ((q + 7) & ~7u) + 8; /* TSFT: 8 bytes, 8-aligned */
        if ((pres & 2) && q < rl && (d[q] & 0x20)) wflags = WF_PAD; /* flags: data pad */
        d += rl;
        len -= rl;
        shift += rl;
        next = N_WLAN;
        break;
    }
    default:
        status = ST_UNKNOWN;
        goto done;
    }

    for (;;) {
        switch (next) {
        case N_ETHER: /* an inner Ethernet header */
            pend |= E_ETHER_INNER;
            tags = 0;
            NEED(off + 14);
            et = u16be(d + off + 12);
            off += 14;
            next = N_ETYPE;
            continue;
        case N_ETYPE:
            if (et == 0x8100 || et == 0x88A8 || et == 0x9100) {
                NEED(off + 4);
                tags++;
                pend |= E_VLAN;
                if (tags >= 2) pend |= E_QINQ;
                et = u16be(d + off + 2);
                off += 4;
                continue;
            }
            if (et < 0x600) { /* 802.3 length: LLC, and SNAP when AA-AA-03 */
                NEED(off + 3);
                if (d[off] != 0xAA || d[off + 1] != 0xAA || d[off + 2] != 0x03) NOT_IP_STOP;
                NEED(off + 8);
                et = u16be(d + off + 6);
                off += 8;
                continue;
            }
            if (et == 0x8926 || et == 0x8909) { /* VN-Tag, Cisco MetaData: then an ethertype */
                uint32_t skip = et == 0x8926 ? 6 : 8; /* walk.py: _ETYPE_SKIPS */
                NEED(off + skip);
                et = u16be(d + off + skip - 2);
                off += skip;
                continue;
            }
            if (et == 0x88E7) { /* 802.1ah backbone I-TAG, then the customer Ethernet header */
                NEED(off + 4);
                off += 4;
                next = N_ETHER;
                continue;
            }
            if (et == 0x6558) { /* transparent Ethernet bridging (GRE, Geneve) */
                next = N_ETHER;
                continue;
            }
            if (et == 0x8864) { /* PPPoE session, RFC 2516: 6 bytes, then the PPP protocol */
                NEED(off + 7);
                pend |= E_PPPOE;
                off += 6;
                ppp_link = 0; /* the PPPoE header and protocol count as encapsulation */
                goto ppp_protocol;
            }
            if (et == 0x8847 || et == 0x8848) {
                next = N_MPLS;
                continue;
            }
            if ((next = etype_next(et)) < 0) NOT_IP_STOP;
            continue;
        case N_MPLS: { /* RFC 3032 label stack; then IP by version nibble, or a PW control word */
            uint32_t nib;
            pend |= E_MPLS;
            for (;;) {
                uint32_t bos;
                NEED(off + 4);
                bos = d[off + 2] & 1;
                off += 4;
                if (bos) break;
            }
            NEED(off + 1);
            nib = d[off] >> 4;
            if (nib == 4) next = N_IP4;
            else if (nib == 6) next = N_IP6;
            else if (nib == 0) { /* RFC 4448 control word, then Ethernet */
                NEED(off + 4);
                off += 4;
                next = N_ETHER;
            } else NOT_IP_STOP;
            continue;
        }
        case N_WLAN: { /* IEEE 802.11 data frame, then LLC/SNAP */
            uint32_t fc0, fc1, hl2, sw = wflags & WF_SWAP;
            NEED(off + 2);
            fc0 = d[off + sw];
            fc1 = d[off + 1 - sw];
            /* version 0 data with a body; not protected, not a fragment with more to come */
            if ((fc0 & 0x0F) != 0x08 || (fc0 & 0x40) || (fc1 & 0x44)) NOT_IP_STOP;
            hl2 = (fc1 & 3) == 3 ? 30 : 24; /* ToDS and FromDS: a fourth address */
            if (fc0 & 0x80) { /* QoS data: QoS control, then HT control when +HTC/Order */
                NEED(off + hl2 + 1);
                if (d[off + hl2] & 0x80) NOT_IP_STOP; /* A-MSDU: not followed */
                hl2 += (fc1 & 0x80) ? 6 : 2;
            }
            if (wflags & WF_PAD) hl2 = (hl2 + 3) & ~3u;
            off += hl2;
            NEED(off + 3);
            if (d[off] != 0xAA || d[off + 1] != 0xAA || d[off + 2] != 0x03) NOT_IP_STOP;
            NEED(off + 8);
            et = u16be(d + off + 6);
            off += 8;
            if (!fam) link_end = off; /* the 802.11 and LLC/SNAP headers are the link header */
            next = N_ETYPE;
            continue;
        }
        case N_IPVER:
            NEED(off + 1);
            if ((next = version_next(d[off] >> 4)) < 0) NOT_IP_STOP;
            continue;
        case N_PPP: /* PPP (link, PPTP-GRE, L2TP): optional FF 03, protocol in 1 or 2 bytes */
            if (off + 2 <= len && d[off] == 0xFF && d[off + 1] == 0x03) off += 2;
            ppp_link = !fam && !(pend & E_PPPOE); /* at link level the PPP header is the link header */
        ppp_protocol: /* RFC 1661 section 6.5: a first byte that is odd is the whole field */
            NEED(off + 1);
            if (d[off] & 1) {
                pp = d[off];
                off += 1;
            } else {
                NEED(off + 2);
                pp = u16be(d + off);
                off += 2;
                if (!(pp & 1)) { /* RFC 1661 section 2: the last byte of the field is odd */
                    status = ST_MALF;
                    goto done;
                }
            }
            if (ppp_link) link_end = off;
            if (ppp_undecoded(pp)) {
                status = ST_UNDECODED;
                goto done;
            }
            if ((next = ppp_next(pp)) < 0) NOT_IP_STOP;
            continue;
        case N_GRE: { /* GRE: RFC 2784/2890 (version 0), RFC 2637 (version 1, PPTP) */
            uint32_t flags, gp, hl2;
            NEED(off + 4);
            flags = u16be(d + off);
            gp = u16be(d + off + 2);
            if ((flags & 7) == 0) {
                if (flags & 0x4000) goto done; /* RFC 1701 routing: not followed */
                hl2 = 4 + ((flags & 0x8000) ? 4 : 0) + ((flags & 0x2000) ? 4 : 0) +
                      ((flags & 0x1000) ? 4 : 0);
                NEED(off + hl2);
                off += hl2;
                pend = encap | E_GRE;
                et = gp; /* the protocol type is an ethertype */
                if (gp == 0x8909) { /* Cisco MetaData in GRE: the next type comes first */
                    NEED(off + 8);
                    et = u16be(d + off);
                    off += 8;
                }
                next = N_ETYPE;
                continue;
            }
            if ((flags & 7) == 1 && gp == 0x880B && (flags & 0x2000)) {
                hl2 = 8 + ((flags & 0x1000) ? 4 : 0) + ((flags & 0x0080) ? 4 : 0);
                NEED(off + hl2);
                if (u16be(d + off + 4) == 0) goto done; /* no payload (ack only) */
                off += hl2;
                pend = encap | E_GRE;
                next = N_PPP;
                continue;
            }
            goto done;
        }
        default: /* N_IP4, N_IP6 */
            break;
        }

        /* ---- an IP header at `off` ---- */
        {
            uint32_t avail = len - off;
            /* Wireshark's IPv4 dissector hands a version-6 header to IPv6 */
            uint32_t v =
                next == N_IP4 && !(avail && (d[off + IPV4_AT_VERSION_IHL] >> 4) == 6) ? 4 : 6;
            uint32_t fixed = v == 4 ? IPV4_SIZE : IPV6_SIZE;
            uint32_t p, hl;

            if (!fam) { /* the outermost IP header */
                if (avail == 0) {
                    status = ST_TRUNC;
                    goto done;
                }
                if ((uint32_t)(d[off + IPV4_AT_VERSION_IHL] >> 4) != v) {
                    status = ST_MALF;
                    goto done;
                }
                l3 = off;
                fam = v;
                encap = pend;
                depth = 1;
                if (avail < fixed) {
                    status = ST_TRUNC;
                    goto done;
                }
                if (v == 4 && (d[off + IPV4_AT_VERSION_IHL] & 15) < 5) {
                    proto = d[off + IPV4_AT_PROTO];
                    status = ST_MALF;
                    goto done;
                }
            } else { /* inside a tunnel: commit only a complete fixed header */
                if (avail < fixed) {
                    status = ST_TRUNC;
                    goto done;
                }
                if ((uint32_t)(d[off + IPV4_AT_VERSION_IHL] >> 4) != v ||
                    (v == 4 && (d[off + IPV4_AT_VERSION_IHL] & 15) < 5)) {
                    status = ST_MALF;
                    goto done;
                }
                l3 = off;
                fam = v;
                encap = pend;
                l4 = NO_OFFSET;
                v6f = NO_OFFSET;
                depth++;
            }

            if (v == 4) {
                uint32_t ihl = (uint32_t)(d[off + IPV4_AT_VERSION_IHL] & 15) * 4;
                proto = d[off + IPV4_AT_PROTO];
                /* not the first fragment */
                if (u16be(d + off + IPV4_AT_FLAGS_FRAGMENT) & 0x1FFF) goto done;
                if (ihl > avail) {
                    status = ST_TRUNC;
                    goto done;
                }
                /* AH (RFC 4302) is walked like an IPv6 extension header */
                while (proto == 51) {
                    if (ihl + 2 > avail) {
                        status = ST_TRUNC;
                        goto done;
                    }
                    hl = ((uint32_t)d[off + ihl + IPV6_EXTENSION_AT_LENGTH] + 2) * 4;
                    if (ihl + hl > avail) {
                        status = ST_TRUNC;
                        goto done;
                    }
                    proto = d[off + ihl + IPV6_EXTENSION_AT_NEXT_HEADER];
                    ihl += hl;
                }
                l4 = ihl;
            } else {
                uint32_t nh = d[off + IPV6_AT_NEXT_HEADER], cur = IPV6_SIZE;
                for (;;) {
                    if (nh == 0 || nh == 43 || nh == 60 || nh == 135 || nh == 139 || nh == 140 ||
                        nh == 51) {
                        if (cur + 2 > avail) {
                            proto = nh;
                            status = ST_TRUNC;
                            goto done;
                        }
                        hl = nh == 51 ? ((uint32_t)d[off + cur + IPV6_EXTENSION_AT_LENGTH] + 2) * 4
                                      : ((uint32_t)d[off + cur + IPV6_EXTENSION_AT_LENGTH] + 1) * 8;
                        if (cur + hl > avail) {
                            proto = nh;
                            status = ST_TRUNC;
                            goto done;
                        }
                        nh = d[off + cur + IPV6_EXTENSION_AT_NEXT_HEADER];
                        cur += hl;
                    } else if (nh == 44) {
                        if (cur + IPV6_FRAGMENT_SIZE > avail) {
                            proto = nh;
                            status = ST_TRUNC;
                            goto done;
                        }
                        v6f = cur;
                        nh = d[off + cur + IPV6_FRAGMENT_AT_NEXT_HEADER];
                        /* not the first fragment */
                        if (u16be(d + off + cur + IPV6_FRAGMENT_AT_OFFSET_FLAGS) & 0xFFF8) {
                            proto = nh;
                            goto done;
                        }
                        cur += IPV6_FRAGMENT_SIZE;
                    } else {
                        break;
                    }
                }
                proto = nh;
                l4 = cur;
            }

            /* ---- tunnels ---- */
            if (depth >= MAX_DEPTH) goto done;
            p = off + l4;
            switch (proto) {
            case 4:
                pend = encap | (fam == 4 ? E_IPIP : E_FOURIN6);
                off = p;
                next = N_IP4;
                continue;
            case 41:
                pend = encap | (fam == 4 ? E_SIXIN4 : E_SIXIN6);
                off = p;
                next = N_IP6;
                continue;
            case 47:
                off = p;
                next = N_GRE;
                continue;
            case 17: {
                uint32_t sp, dp, lo, hi, u, kind;
                if (p + UDP_AT_DPORT + 2 > len) goto done;
                sp = u16be(d + p + UDP_AT_SPORT);
                dp = u16be(d + p + UDP_AT_DPORT);
                lo = sp < dp ? sp : dp;
                hi = sp < dp ? dp : sp;
                kind = udp_tunnel(lo);
                if (kind == U_NONE) kind = udp_tunnel(hi);
                if (kind == U_NONE) goto done;
                NEED(p + UDP_SIZE);
                u = p + UDP_SIZE;
                if (kind == U_VXLAN) { /* RFC 7348 */
                    NEED(u + 8);
                    off = u + 8;
                    pend = encap | E_VXLAN;
                    next = N_ETHER;
                    continue;
                }
                if (kind == U_GENEVE) { /* RFC 8926 */
                    uint32_t ol, gp2;
                    NEED(u + 8);
                    if (d[u] >> 6) goto done;
                    ol = (uint32_t)(d[u] & 0x3F) * 4;
                    gp2 = u16be(d + u + 2);
                    NEED(u + 8 + ol);
                    off = u + 8 + ol;
                    pend = encap | E_GENEVE;
                    et = gp2;
                    next = N_ETYPE;
                    continue;
                }
                if (kind == U_GRE) { /* GRE-in-UDP, RFC 8086 */
                    off = u;
                    next = N_GRE;
                    continue;
                }
                if (kind == U_L2TP) { /* L2TPv2 data message, RFC 2661 section 3.1 */
                    uint32_t f, q;
                    NEED(u + 2);
                    f = u16be(d + u);
                    if ((f & 0x8000) || (f & 0xF) != 2) goto done; /* control, or not v2 */
                    q = u + 2 + ((f & 0x4000) ? 2 : 0) + 4 + ((f & 0x0800) ? 4 : 0);
                    if (f & 0x0200) {
                        NEED(q + 2);
                        q += 2 + u16be(d + q);
                    }
                    NEED(q);
                    off = q;
                    pend = encap | E_L2TP;
                    next = N_PPP;
                    continue;
                }
                if (kind == U_CAPWAP) { /* CAPWAP data channel, RFC 5415 section 4.3 */
                    uint32_t w, hl3;
                    NEED(u + 4);
                    if ((d[u] & 0x0F) == 1) goto done; /* DTLS */
                    w = ((uint32_t)d[u + 1] << 16) | ((uint32_t)d[u + 2] << 8) | d[u + 3];
                    if (w & 0x88) goto done; /* F (fragment) or K (keep-alive) */
                    hl3 = (w >> 19) * 4;     /* HLEN, 4-byte words from the preamble */
                    if (hl3 < 8) goto done;
                    NEED(u + hl3);
                    off = u + hl3;
                    pend = encap | E_CAPWAP;
                    if (!(w & 0x100)) { /* T = 0: an IEEE 802.3 frame */
                        next = N_ETHER;
                        continue;
                    }
                    if (((w >> 9) & 31) != 1) goto done; /* WBID 1: native IEEE 802.11 */
                    wflags = WF_SWAP;
                    next = N_WLAN;
                    continue;
                }
                if (kind == U_AYIYA) { /* AYIYA: 8 bytes, identity (2^n bytes), signature */
                    uint32_t q, nh2;
                    NEED(u + 8);
                    if ((d[u + 2] & 0x0F) != 1) goto done; /* opcode: only Forward carries IP */
                    nh2 = d[u + 3];
                    if (nh2 != 4 && nh2 != 41) goto done;
                    q = u + 8 + (1u << (d[u] >> 4)) + (uint32_t)(d[u + 1] >> 4) * 4;
                    NEED(q);
                    off = q;
                    pend = encap | E_AYIYA;
                    next = nh2 == 4 ? N_IP4 : N_IP6;
                    continue;
                }
                if (kind == U_GTPU) { /* 3GPP TS 29.281 */
                    uint32_t f, q;
                    NEED(u + 8);
                    f = d[u];
                    if ((f >> 5) != 1 || !(f & 0x10) || d[u + 1] != 0xFF) goto done;
                    q = u + 8;
                    if (f & 7) {
                        uint32_t nx;
                        NEED(u + 12);
                        nx = d[u + 11];
                        q = u + 12;
                        if (f & 4) {
                            while (nx) {
                                uint32_t el;
                                NEED(q + 1);
                                el = (uint32_t)d[q] * 4;
                                if (!el) {
                                    status = ST_MALF;
                                    goto done;
                                }
                                NEED(q + el);
                                nx = d[q + el - 1];
                                q += el;
                            }
                        }
                    }
                    off = q;
                    pend = encap | E_GTPU;
                    next = N_IPVER;
                    continue;
                }
                { /* Teredo, RFC 4380 section 5.1.1 */
                    uint32_t q = u;
                    NEED(q + 2);
                    if (u16be(d + q) == 1) { /* authentication indicator */
                        NEED(q + 4);
                        q += 4 + (uint32_t)d[q + 2] + d[q + 3] + 9;
                        NEED(q + 2);
                    }
                    if (u16be(d + q) == 0) { /* origin indication */
                        q += 8;
                    }
                    NEED(q + 1);
                    if ((d[q] >> 4) != 6) goto done;
                    off = q;
                    pend = encap | E_TEREDO;
                    next = N_IP6;
                    continue;
                }
            }
            default:
                goto done;
            }
        }
    }

done:
    if (fam) {
        hdr_len = len - l3;
        if (hdr_len > HEADER_BYTES) hdr_len = HEADER_BYTES;
        memcpy(row, d + l3, hdr_len);
    } else {
        encap = pend;
        l3 = NO_OFFSET;
        l4 = NO_OFFSET;
        v6f = NO_OFFSET;
        proto = 0;
    }
    memset(row + hdr_len, 0, HEADER_BYTES - hdr_len);
    r->encap = encap;
    r->l3_off = (uint16_t)(fam ? l3 + shift : l3);
    r->l4_off = (uint16_t)l4;
    r->v6frag_off = (uint16_t)v6f;
    r->encap_overhead = (uint16_t)(fam ? l3 - link_end : 0);
    r->hdr_len = (uint16_t)hdr_len;
    r->family = (uint8_t)fam;
    r->l4_proto = (uint8_t)proto;
    r->status = (uint8_t)status;
#undef NOT_IP_STOP
#undef NEED
}

typedef struct {
    const uint8_t *buf;
    Py_ssize_t pos, end;
    int64_t base_off;
    int fmt, be;
    uint32_t linktype;        /* pcap */
    const uint16_t *ifaces;   /* pcapng */
    Py_ssize_t n_ifaces;
    uint32_t iface_base, max_caplen;
    rec_t *recs;
    uint8_t *blk;
    Py_ssize_t cap;
} walk_args;

static Py_ssize_t walk_core(walk_args *a, int *stop)
{
    const uint8_t *buf = a->buf;
    Py_ssize_t pos = a->pos, end = a->end, n = 0;
    int be = a->be;

    for (;;) {
        const uint8_t *h = buf + pos;
        rec_t *r;
        uint32_t caplen, wirelen, ts_hi, ts_lo, lt, iface, data_off, btl = 0;
        int bad_iface = 0, nonpkt = 0;

        if (n >= a->cap) {
            *stop = STOP_FULL;
            break;
        }
        if (a->fmt == 0) {
            if (end - pos < 16) {
                *stop = STOP_END;
                break;
            }
            ts_hi = rd32(h, be);
            ts_lo = rd32(h + 4, be);
            caplen = rd32(h + 8, be);
            wirelen = rd32(h + 12, be);
            if (caplen > a->max_caplen) {
                *stop = STOP_CORRUPT;
                break;
            }
            if ((Py_ssize_t)caplen > end - pos - 16) {
                *stop = STOP_END;
                break;
            }
            lt = a->linktype;
            iface = a->iface_base;
            data_off = 16;
        } else {
            uint32_t type, local;
            if (end - pos < 8) {
                *stop = STOP_END;
                break;
            }
            type = rd32(h, be);
            if (type != 6 && type != 3 && type != 2 && type != 0xBAD && type != 0x40000BADu &&
                type != 9) {
                *stop = STOP_BLOCK;
                break;
            }
            btl = rd32(h + 4, be);
            if (btl < 12 || (btl & 3) || btl > a->max_caplen + BLOCK_SLACK) {
                *stop = STOP_CORRUPT;
                break;
            }
            if ((Py_ssize_t)btl > end - pos) {
                *stop = STOP_END;
                break;
            }
            if (rd32(h + btl - 4, be) != btl) {
                *stop = STOP_CORRUPT;
                break;
            }
            if (type == 3) { /* simple packet block */
                if (btl < 16) {
                    *stop = STOP_CORRUPT;
                    break;
                }
                wirelen = rd32(h + 8, be);
                caplen = btl - 16 < wirelen ? btl - 16 : wirelen;
                ts_hi = ts_lo = 0;
                local = 0;
                data_off = 12;
            } else if (type == 0xBAD || type == 0x40000BADu || type == 9) {
                /* custom blocks and systemd journal entries: Wireshark numbers them as frames */
                if (btl < 16) {
                    *stop = STOP_CORRUPT;
                    break;
                }
                caplen = wirelen = btl - (type == 9 ? 12 : 16);
                ts_hi = ts_lo = 0;
                local = 0;
                data_off = 12;
                nonpkt = 1;
            } else { /* enhanced (6) or obsolete (2) packet block */
                if (btl < 32) {
                    *stop = STOP_CORRUPT;
                    break;
                }
                local = type == 6 ? rd32(h + 8, be) : rd16(h + 8, be);
                ts_hi = rd32(h + 12, be);
                ts_lo = rd32(h + 16, be);
                caplen = rd32(h + 20, be);
                wirelen = rd32(h + 24, be);
                data_off = 28;
                if (caplen > a->max_caplen || caplen > btl - 32) {
                    *stop = STOP_CORRUPT;
                    break;
                }
            }
            if (nonpkt) {
                lt = NO_LINKTYPE;
                bad_iface = 1;
            } else if ((Py_ssize_t)local < a->n_ifaces) {
                lt = a->ifaces[local];
            } else {
                lt = NO_LINKTYPE;
                bad_iface = 1;
            }
            iface = nonpkt || (uint64_t)a->iface_base + local > 0xFFFF ? 0xFFFF
                                                                         : a->iface_base + local;
        }

        r = a->recs + n;
        r->file_off = a->base_off + pos;
        r->ts_hi = ts_hi;
        r->ts_lo = ts_lo;
        r->caplen = caplen;
        r->wirelen = wirelen;
        r->iface = (uint16_t)iface;
        r->linktype = (uint16_t)lt;
        r->pad[0] = r->pad[1] = r->pad[2] = 0;
        if (bad_iface) {
            uint8_t *row = a->blk + (size_t)n * HEADER_BYTES;
            memset(row, 0, HEADER_BYTES);
            r->encap = 0;
            r->l3_off = r->l4_off = r->v6frag_off = NO_OFFSET;
            r->encap_overhead = r->hdr_len = 0;
            r->family = r->l4_proto = 0;
            r->status = nonpkt ? ST_UNKNOWN : ST_MALF;
        } else {
            walk_frame(h + data_off, caplen, lt, r, a->blk + (size_t)n * HEADER_BYTES);
        }
        n++;
        pos += a->fmt == 0 ? (Py_ssize_t)16 + caplen : (Py_ssize_t)btl;
    }
    a->pos = pos;
    return n;
}

static PyObject *usage_error; /* mtuscope.errors.UsageError, set at import */

static PyObject *py_walk(PyObject *self, PyObject *args)
{
    PyObject *bufobj, *lts, *recobj, *blkobj;
    Py_ssize_t pos, end, iface_base, max_caplen;
    long long base_off;
    int fmt, be;
    Py_buffer vb, vr, vk, vl;
    walk_args a;
    int stop = STOP_END, have_l = 0;
    Py_ssize_t n;
    PyObject *res = NULL;

    (void)self;
    if (!PyArg_ParseTuple(args, "OnnLipOnnOO:walk", &bufobj, &pos, &end, &base_off, &fmt, &be,
                          &lts, &iface_base, &max_caplen, &recobj, &blkobj))
        return NULL;
    if (fmt != 0 && fmt != 1) {
        PyErr_SetString(usage_error, "walk: fmt must be 0 (pcap) or 1 (pcapng)");
        return NULL;
    }
    if (iface_base < 0 || iface_base > 0xFFFF || max_caplen < 0 || max_caplen > 0x7FFF0000) {
        PyErr_SetString(usage_error, "walk: iface_base or max_caplen out of range");
        return NULL;
    }
    memset(&a, 0, sizeof a);
    if (fmt == 0) {
        long v;
        if (!PyLong_Check(lts)) {
            PyErr_SetString(usage_error, "walk: pcap needs an int link type");
            return NULL;
        }
        v = PyLong_AsLong(lts);
        if (v == -1 && PyErr_Occurred()) return NULL;
        if (v < 0 || v > 0xFFFF) {
            PyErr_SetString(usage_error, "walk: link type out of range");
            return NULL;
        }
        a.linktype = (uint32_t)v;
    } else {
        if (PyLong_Check(lts)) {
            PyErr_SetString(usage_error, "walk: pcapng needs a uint16 array of link types");
            return NULL;
        }
        if (PyObject_GetBuffer(lts, &vl, PyBUF_C_CONTIGUOUS) < 0) return NULL;
        have_l = 1;
        if (vl.itemsize != 2) {
            PyBuffer_Release(&vl);
            PyErr_SetString(usage_error, "walk: pcapng needs a uint16 array of link types");
            return NULL;
        }
        a.ifaces = (const uint16_t *)vl.buf;
        a.n_ifaces = vl.len / 2;
    }
    if (PyObject_GetBuffer(bufobj, &vb, PyBUF_SIMPLE) < 0) goto fail_l;
    if (PyObject_GetBuffer(recobj, &vr, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) goto fail_b;
    if (PyObject_GetBuffer(blkobj, &vk, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) goto fail_r;
    if (pos < 0 || end < pos || end > vb.len) {
        PyErr_SetString(usage_error, "walk: need 0 <= pos <= end <= len(buf)");
        goto fail_k;
    }
    if (vr.len % (Py_ssize_t)sizeof(rec_t) || vk.len % HEADER_BYTES) {
        PyErr_SetString(usage_error, "walk: records/block have the wrong item size");
        goto fail_k;
    }
    a.buf = (const uint8_t *)vb.buf;
    a.pos = pos;
    a.end = end;
    a.base_off = base_off;
    a.fmt = fmt;
    a.be = be;
    a.iface_base = (uint32_t)iface_base;
    a.max_caplen = (uint32_t)max_caplen;
    a.recs = (rec_t *)vr.buf;
    a.blk = (uint8_t *)vk.buf;
    a.cap = vr.len / (Py_ssize_t)sizeof(rec_t);
    if (vk.len / HEADER_BYTES < a.cap) a.cap = vk.len / HEADER_BYTES;

    Py_BEGIN_ALLOW_THREADS
    n = walk_core(&a, &stop);
    Py_END_ALLOW_THREADS

    res = Py_BuildValue("nni", n, a.pos, stop);
fail_k:
    PyBuffer_Release(&vk);
fail_r:
    PyBuffer_Release(&vr);
fail_b:
    PyBuffer_Release(&vb);
fail_l:
    if (have_l) PyBuffer_Release(&vl);
    return res;
}

/*
 * flows(): one pass over a chunk's TCP rows that keys connections and sums each
 * direction (see walk.py, flows_py, for the contract; both must agree exactly).
 * Connections are numbered in order of first appearance; chain 2*conn+dir is one
 * direction (dir 0: endpoint A -> B, A being the smaller (address, port)).
 */
enum {
    FS_PACKETS, FS_BYTES, FS_FIRST_FRAME, FS_LAST_FRAME, FS_FIRST_TS, FS_LAST_TS, FS_SYNS,
    FS_RSTS, FS_FINS, FS_IPLEN0, FS_IP_MAX, FS_TAIL_RAW, FS_TAIL_FRAME, FS_FAMILY, FS_N
};
#define FS_NONE INT64_MIN

typedef struct {
    Py_ssize_t m;
    const uint64_t *src_hi, *src_lo, *dst_hi, *dst_lo;
    const uint16_t *sport, *dport, *flags;
    const uint32_t *payload, *ip_len, *seq;
    const int64_t *frame, *ts;
    const uint8_t *family;
    int64_t *conn, *first;
    uint8_t *dir;
    uint64_t *keys; /* 4 x m: a_hi, a_lo, b_hi, b_lo per connection */
    uint16_t *ports; /* 2 x m: a_port, b_port */
    int64_t *stats;  /* FS_N x 2m, per chain */
} flows_args;

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* Returns the number of connections, or -1 when out of memory. */
static Py_ssize_t flows_core(flows_args *a)
{
    Py_ssize_t m = a->m, nconn = 0, i, c, k;
    size_t cap = 16, mask, h;
    int64_t *table, *st = a->stats;
    uint64_t *k_ahi = a->keys, *k_alo = a->keys + m;
    uint64_t *k_bhi = a->keys + 2 * m, *k_blo = a->keys + 3 * m;
    uint16_t *apo = a->ports, *bpo = a->ports + m;
    Py_ssize_t nch = 2 * m;

    while (cap < (size_t)m * 2) cap <<= 1;
    mask = cap - 1;
    table = (int64_t *)malloc(cap * sizeof(int64_t));
    if (table == NULL) return -1;
    memset(table, 0xFF, cap * sizeof(int64_t)); /* -1: empty */
    for (i = 0; i < m; i++) {
        uint64_t shi = a->src_hi[i], slo = a->src_lo[i], dhi = a->dst_hi[i], dlo = a->dst_lo[i];
        uint16_t sp = a->sport[i], dp = a->dport[i];
        int swap = shi > dhi || (shi == dhi && (slo > dlo || (slo == dlo && sp > dp)));
        uint64_t khi = swap ? dhi : shi, klo = swap ? dlo : slo;
        uint64_t lhi = swap ? shi : dhi, llo = swap ? slo : dlo;
        uint16_t kp = swap ? dp : sp, lp = swap ? sp : dp;
        int64_t ch, fl, pay, fr, t;

        h = (size_t)mix64(khi * 31 + klo + mix64(lhi ^ (llo * 0x9E3779B97F4A7C15ULL)) +
                          ((uint64_t)kp << 16 | lp)) & mask;
        for (;;) {
            c = table[h];
            if (c < 0) {
                c = nconn++;
                table[h] = c;
                k_ahi[c] = khi, k_alo[c] = klo, k_bhi[c] = lhi, k_blo[c] = llo;
                apo[c] = kp, bpo[c] = lp;
                a->first[c] = i;
                for (k = 0; k < FS_N; k++) {
                    st[k * nch + 2 * c] = 0;
                    st[k * nch + 2 * c + 1] = 0;
                }
                for (k = 0; k < 2; k++) {
                    st[FS_TAIL_RAW * nch + 2 * c + k] = FS_NONE;
                    st[FS_TAIL_FRAME * nch + 2 * c + k] = FS_NONE;
                }
                break;
            }
            if (k_ahi[c] == khi && k_alo[c] == klo && k_bhi[c] == lhi && k_blo[c] == llo &&
                apo[c] == kp && bpo[c] == lp)
                break;
            h = (h + 1) & mask;
        }
        a->conn[i] = c;
        a->dir[i] = (uint8_t)swap;
        ch = 2 * c + swap;
        fl = a->flags[i];
        pay = a->payload[i];
        fr = a->frame[i];
        t = a->ts[i];
        if (st[FS_PACKETS * nch + ch]++ == 0) {
            st[FS_FIRST_FRAME * nch + ch] = fr;
            st[FS_FIRST_TS * nch + ch] = t;
            st[FS_LAST_TS * nch + ch] = t;
            st[FS_FAMILY * nch + ch] = a->family[i];
            st[FS_IP_MAX * nch + ch] = a->ip_len[i];
        }
        st[FS_LAST_FRAME * nch + ch] = fr;
        if (t < st[FS_FIRST_TS * nch + ch]) st[FS_FIRST_TS * nch + ch] = t;
        if (t > st[FS_LAST_TS * nch + ch]) st[FS_LAST_TS * nch + ch] = t;
        if ((int64_t)a->ip_len[i] > st[FS_IP_MAX * nch + ch])
            st[FS_IP_MAX * nch + ch] = a->ip_len[i];
        st[FS_BYTES * nch + ch] += pay;
        st[FS_SYNS * nch + ch] += (fl & 2) != 0;
        st[FS_RSTS * nch + ch] += (fl & 4) != 0;
        st[FS_FINS * nch + ch] += (fl & 1) != 0;
        st[FS_IPLEN0 * nch + ch] += a->ip_len[i] == 0 && a->family[i] == 4;
        if ((fl & 4) == 0) {
            st[FS_TAIL_RAW * nch + ch] = a->seq[i];
            st[FS_TAIL_FRAME * nch + ch] = fr;
        }
    }
    free(table);
    return nconn;
}

/* A C-contiguous buffer of `n` items of `size` bytes (n < 0: any count, returned in *n). */
static int flows_buf(PyObject *obj, Py_buffer *v, Py_ssize_t size, Py_ssize_t n, int writable,
                     const char *what)
{
    if (PyObject_GetBuffer(obj, v, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    if (v->itemsize != size || (n >= 0 && v->len != n * size)) {
        PyBuffer_Release(v);
        PyErr_Format(usage_error, "flows: %s has the wrong item size or length", what);
        return -1;
    }
    return 0;
}

#define FLOWS_NBUF 20

static PyObject *py_flows(PyObject *self, PyObject *args)
{
    static const char *names[FLOWS_NBUF] = {
        "src_hi", "src_lo", "sport", "dst_hi", "dst_lo", "dport", "flags", "payload", "frame",
        "ts", "ip_len", "family", "seq", "conn", "dir", "first", "keys", "ports", "stats", "?"};
    static const Py_ssize_t sizes[FLOWS_NBUF - 1] = {8, 8, 2, 8, 8, 2, 2, 4, 8, 8, 4, 1, 4,
                                                     8, 1, 8, 8, 2, 8};
    static const Py_ssize_t mult[FLOWS_NBUF - 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                                    1, 1, 1, 4, 2, 2 * FS_N};
    PyObject *o[FLOWS_NBUF - 1];
    Py_buffer v[FLOWS_NBUF - 1];
    Py_ssize_t m = 0, nconn = -1;
    int got = 0, i;
    flows_args a;

    (void)self;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOOOOOOOOO:flows", &o[0], &o[1], &o[2], &o[3], &o[4],
                          &o[5], &o[6], &o[7], &o[8], &o[9], &o[10], &o[11], &o[12], &o[13],
                          &o[14], &o[15], &o[16], &o[17], &o[18]))
        return NULL;
    for (i = 0; i < FLOWS_NBUF - 1; i++) {
        if (flows_buf(o[i], &v[i], sizes[i], i == 0 ? -1 : m * mult[i], i >= 13, names[i]) < 0)
            goto done;
        got++;
        if (i == 0) m = v[0].len / 8;
    }
    a.m = m;
    a.src_hi = v[0].buf, a.src_lo = v[1].buf, a.sport = v[2].buf;
    a.dst_hi = v[3].buf, a.dst_lo = v[4].buf, a.dport = v[5].buf;
    a.flags = v[6].buf, a.payload = v[7].buf, a.frame = v[8].buf, a.ts = v[9].buf;
    a.ip_len = v[10].buf, a.family = v[11].buf, a.seq = v[12].buf;
    a.conn = v[13].buf, a.dir = v[14].buf, a.first = v[15].buf;
    a.keys = v[16].buf, a.ports = v[17].buf, a.stats = v[18].buf;
    Py_BEGIN_ALLOW_THREADS
    nconn = flows_core(&a);
    Py_END_ALLOW_THREADS
    if (nconn < 0) PyErr_NoMemory();
done:
    for (i = 0; i < got; i++) PyBuffer_Release(&v[i]);
    if (nconn < 0) return NULL;
    return PyLong_FromSsize_t(nconn);
}

/*
 * sizes(): the payload-size histogram of a chunk's data segments, one row per
 * (chain, payload) in order of first appearance (see walk.py, sizes_py).
 * In: int64 (SZ_IN, m) rows chain, payload, frame, seq_end, ttl, ip_len, family,
 * wirelen, hdr. Out: int64 (SZ_OUT, m) rows chain, payload, count, first_frame,
 * last_frame, first_seq_end, ttl_min, ttl_max, iplen0, ip_len_max, wire_max, hdr.
 */
enum { SI_CHAIN, SI_PAYLOAD, SI_FRAME, SI_SEQ_END, SI_TTL, SI_IP_LEN, SI_FAMILY, SI_WIRE, SI_HDR,
       SZ_IN };
enum { SO_CHAIN, SO_PAYLOAD, SO_COUNT, SO_FIRST_FRAME, SO_LAST_FRAME, SO_FIRST_SEQ_END,
       SO_TTL_MIN, SO_TTL_MAX, SO_IPLEN0, SO_IP_LEN_MAX, SO_WIRE_MAX, SO_HDR, SZ_OUT };

static Py_ssize_t sizes_core(const int64_t *in, int64_t *out, Py_ssize_t m)
{
    size_t cap = 16, mask, h;
    int64_t *table;
    Py_ssize_t i, g, n = 0;
#define IN(r) in[(Py_ssize_t)(r) * m + i]
#define OUT(r) out[(Py_ssize_t)(r) * m + g]

    while (cap < (size_t)m * 2) cap <<= 1;
    mask = cap - 1;
    table = (int64_t *)malloc(cap * sizeof(int64_t));
    if (table == NULL) return -1;
    memset(table, 0xFF, cap * sizeof(int64_t));
    for (i = 0; i < m; i++) {
        int64_t chain = IN(SI_CHAIN), pay = IN(SI_PAYLOAD), fr = IN(SI_FRAME), ttl = IN(SI_TTL);
        int64_t ipl = IN(SI_IP_LEN), wire = IN(SI_WIRE);
        h = (size_t)mix64((uint64_t)chain * 0x9E3779B97F4A7C15ULL ^ (uint64_t)pay) & mask;
        for (;;) {
            g = table[h];
            if (g < 0) {
                g = n++;
                table[h] = g;
                OUT(SO_CHAIN) = chain, OUT(SO_PAYLOAD) = pay, OUT(SO_COUNT) = 0;
                OUT(SO_FIRST_FRAME) = OUT(SO_LAST_FRAME) = fr;
                OUT(SO_FIRST_SEQ_END) = IN(SI_SEQ_END);
                OUT(SO_TTL_MIN) = OUT(SO_TTL_MAX) = ttl;
                OUT(SO_IPLEN0) = 0;
                OUT(SO_IP_LEN_MAX) = ipl, OUT(SO_WIRE_MAX) = wire, OUT(SO_HDR) = IN(SI_HDR);
                break;
            }
            if (OUT(SO_CHAIN) == chain && OUT(SO_PAYLOAD) == pay) break;
            h = (h + 1) & mask;
        }
        OUT(SO_COUNT)++;
        if (fr < OUT(SO_FIRST_FRAME)) OUT(SO_FIRST_FRAME) = fr;
        if (fr > OUT(SO_LAST_FRAME)) OUT(SO_LAST_FRAME) = fr;
        if (ttl < OUT(SO_TTL_MIN)) OUT(SO_TTL_MIN) = ttl;
        if (ttl > OUT(SO_TTL_MAX)) OUT(SO_TTL_MAX) = ttl;
        OUT(SO_IPLEN0) += ipl == 0 && IN(SI_FAMILY) == 4;
        if (ipl > OUT(SO_IP_LEN_MAX)) OUT(SO_IP_LEN_MAX) = ipl;
        if (wire > OUT(SO_WIRE_MAX)) OUT(SO_WIRE_MAX) = wire;
    }
#undef IN
#undef OUT
    free(table);
    return n;
}

static PyObject *py_sizes(PyObject *self, PyObject *args)
{
    PyObject *inobj, *outobj;
    Py_buffer vi, vo;
    Py_ssize_t m, n = -1;

    (void)self;
    if (!PyArg_ParseTuple(args, "OO:sizes", &inobj, &outobj)) return NULL;
    if (flows_buf(inobj, &vi, 8, -1, 0, "sizes input") < 0) return NULL;
    if (vi.len % (SZ_IN * 8)) {
        PyBuffer_Release(&vi);
        PyErr_SetString(usage_error, "sizes: the input is not 9 int64 rows");
        return NULL;
    }
    m = vi.len / (SZ_IN * 8);
    if (flows_buf(outobj, &vo, 8, m * SZ_OUT, 1, "sizes output") < 0) {
        PyBuffer_Release(&vi);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    n = sizes_core((const int64_t *)vi.buf, (int64_t *)vo.buf, m);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&vo);
    PyBuffer_Release(&vi);
    if (n < 0) return PyErr_NoMemory();
    return PyLong_FromSsize_t(n);
}

/*
 * chains(): the sequence chains of a chunk's TCP rows in one pass in file order
 * (see walk.py, chains_py, for the contract; both must agree exactly). Chain
 * 2*conn+dir is the sequence space of one direction: its events are the
 * sequence numbers that direction sends (data, SYN, FIN; not RST) and the ack
 * numbers the other direction sends (ACK set, not RST). A row gives at most one
 * event to a chain, so file order is (row, kind) order within every chain, and
 * each chain's state can be kept as the rows stream by: the 32-bit values
 * unwrapped by signed steps, the peer's highest ack, the highest data end (a
 * data segment ending at or below it is a retransmission, except a one-byte
 * keep-alive ending exactly there), the new-high records within SPAN bytes of
 * the first data segment (at most MAX_RECORDS), the reach of the sequence
 * events and their last jump.
 */
enum {
    CS_EVENTS, CS_FIRST_RAW, CS_LAST_RAW, CS_LAST_ABS, CS_ACK_MAX, CS_HIGH, CS_FIRST_START,
    CS_RETRANS, CS_NREC, CS_REACH, CS_EV_FIRST_START, CS_EV_FIRST_FRAME, CS_EV_LAST_FRAME,
    CS_JUMP_START, CS_JUMP_GAP, CS_JUMP_FRAME, CS_JUMP_PREV_FRAME, CS_N
};
enum { SG_CHAIN, SG_FRAME, SG_TS, SG_START, SG_END, SG_PAYLOAD, SG_ACK, SG_N };

typedef struct {
    Py_ssize_t m, nch;
    const int64_t *conn, *frame, *ts;
    const uint8_t *dir;
    const uint16_t *flags;
    const uint32_t *payload, *seq, *ack;
    int64_t span, max_records;
    int keep_records;
    int64_t *seg_end; /* m: data end of each data row, FS_NONE for other rows */
    int64_t *state;   /* CS_N x nch */
    int64_t *recs;    /* SG_N x m */
    int64_t *retx;    /* SG_N x m */
    Py_ssize_t nrec, nretx;
} chains_args;

static inline int64_t signed_step32(int64_t to, int64_t from)
{
    return ((to - from + ((int64_t)1 << 31)) & (((int64_t)1 << 32) - 1)) - ((int64_t)1 << 31);
}

#define ST(k) st[(Py_ssize_t)(k) * nch + ch]

/* Unwraps raw value `raw` onto chain `ch`'s line (recording it as the chain's last event). */
static inline int64_t chain_event(int64_t *st, Py_ssize_t nch, Py_ssize_t ch, int64_t raw)
{
    int64_t v;
    if (ST(CS_EVENTS)++ == 0) {
        ST(CS_FIRST_RAW) = raw;
        v = raw;
    } else {
        v = ST(CS_LAST_ABS) + signed_step32(raw, ST(CS_LAST_RAW));
    }
    ST(CS_LAST_RAW) = raw;
    ST(CS_LAST_ABS) = v;
    return v;
}

static void chains_core(chains_args *a)
{
    Py_ssize_t m = a->m, nch = a->nch, i, k, ch;
    int64_t *st = a->state;
    Py_ssize_t nrec = 0, nretx = 0;

    for (ch = 0; ch < nch; ch++)
        for (k = 0; k < CS_N; k++) st[k * nch + ch] = FS_NONE;
    for (ch = 0; ch < nch; ch++) {
        ST(CS_EVENTS) = 0;
        ST(CS_NREC) = 0;
    }
    for (i = 0; i < m; i++) {
        int64_t fl = a->flags[i], pay = a->payload[i], fr = a->frame[i];
        Py_ssize_t c = (Py_ssize_t)a->conn[i];
        int d = a->dir[i];
        a->seg_end[i] = FS_NONE;
        if (fl & 4) continue; /* RST: a RST answering a SYN carries sequence 0 */
        if (pay > 0 || (fl & 3)) {
            int64_t start, s_end;
            ch = 2 * c + d;
            start = chain_event(st, nch, ch, a->seq[i]);
            s_end = start + pay + (fl & 1) + ((fl >> 1) & 1);
            if (ST(CS_REACH) == FS_NONE) {
                ST(CS_REACH) = s_end;
                ST(CS_EV_FIRST_START) = start;
                ST(CS_EV_FIRST_FRAME) = fr;
            } else {
                if (start > ST(CS_REACH)) {
                    ST(CS_JUMP_START) = start;
                    ST(CS_JUMP_GAP) = ST(CS_REACH);
                    ST(CS_JUMP_FRAME) = fr;
                    ST(CS_JUMP_PREV_FRAME) = ST(CS_EV_LAST_FRAME);
                }
                if (s_end > ST(CS_REACH)) ST(CS_REACH) = s_end;
            }
            ST(CS_EV_LAST_FRAME) = fr;
            if (pay > 0) {
                int64_t end = start + pay, ackv = ST(CS_ACK_MAX), *out;
                int retx;
                if (ST(CS_HIGH) == FS_NONE) {
                    retx = 0;
                    ST(CS_HIGH) = end;
                    ST(CS_FIRST_START) = start;
                    ST(CS_RETRANS) = 0;
                } else {
                    int64_t prev = ST(CS_HIGH);
                    /* a keep-alive (one byte ending at the highest sequence sent) resends
                       nothing lost (RFC 9293 section 3.8.4) */
                    retx = end <= prev && !(pay == 1 && end == prev);
                    if (end > prev) ST(CS_HIGH) = end;
                }
                a->seg_end[i] = end;
                out = NULL;
                if (retx) {
                    ST(CS_RETRANS)++;
                    out = a->retx + nretx++;
                } else if (++ST(CS_NREC) <= a->max_records && end <= ST(CS_FIRST_START) + a->span &&
                           a->keep_records) {
                    out = a->recs + nrec++;
                }
                if (out != NULL) {
                    out[SG_CHAIN * m] = ch;
                    out[SG_FRAME * m] = fr;
                    out[SG_TS * m] = a->ts[i];
                    out[SG_START * m] = start;
                    out[SG_END * m] = end;
                    out[SG_PAYLOAD * m] = pay;
                    out[SG_ACK * m] = ackv;
                }
            }
        }
        if (fl & 16) {
            int64_t v;
            ch = 2 * c + 1 - d;
            v = chain_event(st, nch, ch, a->ack[i]);
            if (ST(CS_ACK_MAX) == FS_NONE || v > ST(CS_ACK_MAX)) ST(CS_ACK_MAX) = v;
        }
    }
#undef ST
    a->nrec = nrec;
    a->nretx = nretx;
}

#define CHAINS_NBUF 12

static PyObject *py_chains(PyObject *self, PyObject *args)
{
    static const char *names[CHAINS_NBUF] = {"conn", "dir", "flags", "payload", "seq", "ack",
                                             "frame", "ts", "seg_end", "state", "recs", "retx"};
    static const Py_ssize_t isz[CHAINS_NBUF] = {8, 1, 2, 4, 4, 4, 8, 8, 8, 8, 8, 8};
    PyObject *o[CHAINS_NBUF];
    Py_buffer v[CHAINS_NBUF];
    Py_ssize_t m = 0, nconn, i;
    long long span, max_records;
    int keep, got = 0, ok = 0;
    chains_args a;

    (void)self;
    if (!PyArg_ParseTuple(args, "OOOOOOOOnLLpOOOO:chains", &o[0], &o[1], &o[2], &o[3], &o[4],
                          &o[5], &o[6], &o[7], &nconn, &span, &max_records, &keep, &o[8], &o[9],
                          &o[10], &o[11]))
        return NULL;
    if (nconn < 0) {
        PyErr_SetString(usage_error, "chains: a negative number of connections");
        return NULL;
    }
    for (i = 0; i < CHAINS_NBUF; i++) {
        Py_ssize_t n = i == 0 ? -1 : i == 9 ? 2 * nconn * CS_N : i >= 10 ? SG_N * m : m;
        if (PyObject_GetBuffer(o[i], &v[i], PyBUF_C_CONTIGUOUS | (i >= 8 ? PyBUF_WRITABLE : 0)) <
            0)
            goto done;
        got++;
        if (i == 0) m = v[0].len / 8;
        if (v[i].itemsize != isz[i] || (n >= 0 && v[i].len != n * isz[i])) {
            PyErr_Format(usage_error, "chains: %s has the wrong item size or length", names[i]);
            goto done;
        }
    }
    a.m = m, a.nch = 2 * nconn;
    a.conn = v[0].buf, a.dir = v[1].buf, a.flags = v[2].buf, a.payload = v[3].buf;
    a.seq = v[4].buf, a.ack = v[5].buf, a.frame = v[6].buf, a.ts = v[7].buf;
    a.seg_end = v[8].buf, a.state = v[9].buf, a.recs = v[10].buf, a.retx = v[11].buf;
    a.span = span, a.max_records = max_records, a.keep_records = keep;
    for (i = 0; i < m; i++) {
        if (a.conn[i] < 0 || a.conn[i] >= nconn || a.dir[i] > 1) {
            PyErr_SetString(usage_error, "chains: a row names no connection of the chunk");
            goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    chains_core(&a);
    Py_END_ALLOW_THREADS
    ok = 1;
done:
    for (i = 0; i < got; i++) PyBuffer_Release(&v[i]);
    if (!ok) return NULL;
    return Py_BuildValue("nn", a.nrec, a.nretx);
}

/*
 * transport(): the fixed transport fields of a decoded chunk's rows, straight from
 * the header block (see decode.py, _transport_np, for the contract; both must agree
 * exactly). Per row r of `rows` (its transport header at block offset l4; bytes past
 * the block read as zeros): TCP, UDP, SCTP and DCCP ports; for TCP the sequence and
 * ack numbers, the 12 flag bits, the window, the header length, the payload (from the
 * IP length, or the frame's length when the IP length is not past l4, as TSO frames
 * carry it), `truncated` when the 20-byte header is not captured, and in lie[i] 1
 * (data offset below 20 bytes) or 2 (past the segment, not in a fragment) and in
 * syn[i] 1 for a SYN whose options are captured; for UDP the payload, `truncated`
 * when the 8-byte header is not captured.
 */
#define TR_NBUF 19

static PyObject *py_transport(PyObject *self, PyObject *args)
{
    static const char *names[TR_NBUF] = {
        "block", "rows", "l4", "hdr_len", "wirelen", "l3_off", "proto", "ip_len", "fragment",
        "sport", "dport", "seq", "ack", "tcp_flags", "win", "thl", "payload", "truncated",
        "lie"};
    static const Py_ssize_t isz[TR_NBUF] = {1, 8, 8, 8, 8, 8, 1, 4, 1, 2, 2, 4, 4, 2, 2, 1,
                                            4, 1, 1};
    PyObject *o[TR_NBUF + 1];
    Py_buffer v[TR_NBUF + 1];
    Py_ssize_t n = 0, nrows = 0, i;
    int got = 0, ok = 0;

    (void)self;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOOOOOOOOOO:transport", &o[0], &o[1], &o[2], &o[3],
                          &o[4], &o[5], &o[6], &o[7], &o[8], &o[9], &o[10], &o[11], &o[12],
                          &o[13], &o[14], &o[15], &o[16], &o[17], &o[18], &o[19]))
        return NULL;
    for (i = 0; i <= TR_NBUF; i++) {
        Py_ssize_t size = i == TR_NBUF ? 1 : isz[i], want;
        const char *name = i == TR_NBUF ? "syn" : names[i];
        if (PyObject_GetBuffer(o[i], &v[i], PyBUF_C_CONTIGUOUS | (i >= 9 ? PyBUF_WRITABLE : 0)) <
            0)
            goto done;
        got++;
        if (i == 0) nrows = v[0].len / HEADER_BYTES;
        if (i == 1) n = v[1].len / 8;
        want = i == 0 ? nrows * HEADER_BYTES : (i <= 5 || i >= 18) ? n : nrows;
        if (v[i].itemsize != size || v[i].len != want * size) {
            PyErr_Format(usage_error, "transport: %s has the wrong item size or length", name);
            goto done;
        }
    }
    {
        const uint8_t *blk = v[0].buf;
        const int64_t *rows = v[1].buf, *l4 = v[2].buf, *hdr = v[3].buf, *wire = v[4].buf;
        const int64_t *l3 = v[5].buf;
        for (i = 0; i < n; i++) {
            if (rows[i] < 0 || rows[i] >= nrows || l4[i] < 0) {
                PyErr_SetString(usage_error, "transport: a row or offset outside the block");
                goto done;
            }
        }
        Py_BEGIN_ALLOW_THREADS
        {
            const uint8_t *proto = v[6].buf, *frag = v[8].buf;
            const uint32_t *ip_len = v[7].buf;
            uint16_t *sport = v[9].buf, *dport = v[10].buf, *flags = v[13].buf, *win = v[14].buf;
            uint32_t *seq = v[11].buf, *ack = v[12].buf, *payload = v[16].buf;
            uint8_t *thl_o = v[15].buf, *trunc = v[17].buf, *lie = v[18].buf, *syn = v[19].buf;
            for (i = 0; i < n; i++) {
                Py_ssize_t r = (Py_ssize_t)rows[i];
                const uint8_t *row = blk + r * HEADER_BYTES;
                int64_t off = l4[i], have = hdr[i] - off, len = ip_len[r], seg;
                uint8_t h[20];
                int k, pr = proto[r];
#define HB(k) (off + (k) < HEADER_BYTES ? row[off + (k)] : 0)
                lie[i] = 0;
                syn[i] = 0;
                if (len <= off) len = wire[i] - l3[i];
                seg = len - off > 0 ? len - off : 0;
                if (pr != 6 && pr != 17 && pr != 132 && pr != 33) continue;
                for (k = 0; k < 20; k++) h[k] = HB(k);
#undef HB
                sport[r] = (uint16_t)(h[0] << 8 | h[1]);
                dport[r] = (uint16_t)(h[2] << 8 | h[3]);
                if (pr == 6) {
                    uint32_t word = (uint32_t)h[12] << 8 | h[13];
                    int64_t thl = (int64_t)(word >> 12) * 4;
                    int read = have > 12, full = have >= 20;
                    if (read && thl < 20)
                        lie[i] = 1;
                    else if (read && !frag[r] && thl > seg)
                        lie[i] = 2;
                    seq[r] = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 |
                             (uint32_t)h[6] << 8 | h[7];
                    ack[r] = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 |
                             (uint32_t)h[10] << 8 | h[11];
                    flags[r] = (uint16_t)(word & 0x0FFF);
                    win[r] = (uint16_t)(h[14] << 8 | h[15]);
                    thl_o[r] = (uint8_t)thl;
                    payload[r] = (uint32_t)(seg - thl > 0 ? seg - thl : 0);
                    if (!full) trunc[r] = 1;
                    syn[i] = (word & 2) && full && thl > 20;
                } else if (pr == 17) {
                    payload[r] = (uint32_t)(seg - 8 > 0 ? seg - 8 : 0);
                    if (have < 8) trunc[r] = 1;
                }
            }
        }
        Py_END_ALLOW_THREADS
    }
    ok = 1;
done:
    for (i = 0; i < got; i++) PyBuffer_Release(&v[i]);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

/*
 * network(): the fixed IPv4 and IPv6 header fields of a decoded chunk's rows (see
 * decode.py, _network_np, for the contract; both must agree exactly). Rows of family
 * 4: header length (IHL), total length, identification, DF, MF, fragment offset,
 * fragment, TTL, the addresses (IPv4-mapped), `truncated` when the 20 bytes are not
 * captured. Rows of family 6: 40 + payload length, hop limit, the addresses, DF (always),
 * header length up to the transport header (l4_off, or 40 without one), `truncated`
 * when the 40 bytes are not captured. Other rows are left as they are. The IPv6
 * fragment header is read by the caller (rare).
 */
#define NW_NBUF 17

static inline uint64_t be_u(const uint8_t *p, int n)
{
    uint64_t v = 0;
    int k;
    for (k = 0; k < n; k++) v = v << 8 | p[k];
    return v;
}

static PyObject *py_network(PyObject *self, PyObject *args)
{
    static const char *names[NW_NBUF] = {
        "block", "family", "hdr_len", "l4_off", "src_hi", "src_lo", "dst_hi", "dst_lo",
        "ip_len", "ip_hlen", "ttl", "ip_id", "df", "mf", "frag_off", "fragment", "truncated"};
    static const Py_ssize_t isz[NW_NBUF] = {1, 1, 8, 8, 8, 8, 8, 8, 4, 2, 1, 4, 1, 1, 4, 1, 1};
    PyObject *o[NW_NBUF];
    Py_buffer v[NW_NBUF];
    Py_ssize_t n = 0, i;
    int got = 0, ok = 0;

    (void)self;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOOOOOOO:network", &o[0], &o[1], &o[2], &o[3], &o[4],
                          &o[5], &o[6], &o[7], &o[8], &o[9], &o[10], &o[11], &o[12], &o[13],
                          &o[14], &o[15], &o[16]))
        return NULL;
    for (i = 0; i < NW_NBUF; i++) {
        if (PyObject_GetBuffer(o[i], &v[i], PyBUF_C_CONTIGUOUS | (i >= 4 ? PyBUF_WRITABLE : 0)) <
            0)
            goto done;
        got++;
        if (i == 0) n = v[0].len / HEADER_BYTES;
        if (v[i].itemsize != isz[i] || v[i].len != (i == 0 ? HEADER_BYTES : 1) * n * isz[i]) {
            PyErr_Format(usage_error, "network: %s has the wrong item size or length", names[i]);
            goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    {
        const uint8_t *blk = v[0].buf, *fam = v[1].buf;
        const int64_t *hdr = v[2].buf, *l4 = v[3].buf;
        uint64_t *shi = v[4].buf, *slo = v[5].buf, *dhi = v[6].buf, *dlo = v[7].buf;
        uint32_t *ip_len = v[8].buf, *ip_id = v[11].buf, *frag_off = v[14].buf;
        uint16_t *ip_hlen = v[9].buf;
        uint8_t *ttl = v[10].buf, *df = v[12].buf, *mf = v[13].buf, *frag = v[15].buf;
        uint8_t *trunc = v[16].buf;
        const uint64_t mapped = (uint64_t)0xFFFF << 32;
        for (i = 0; i < n; i++) {
            const uint8_t *b = blk + i * HEADER_BYTES;
            if (fam[i] == 4) {
                uint32_t flags = (uint32_t)be_u(b + 6, 2);
                ip_hlen[i] = (uint16_t)((b[0] & 0x0F) * 4);
                ip_len[i] = (uint32_t)be_u(b + 2, 2);
                ip_id[i] = (uint32_t)be_u(b + 4, 2);
                df[i] = (flags & 0x4000) != 0;
                mf[i] = (flags & 0x2000) != 0;
                frag_off[i] = (flags & 0x1FFF) * 8;
                frag[i] = (flags & 0x3FFF) != 0;
                ttl[i] = b[8];
                shi[i] = 0;
                slo[i] = mapped | be_u(b + 12, 4);
                dhi[i] = 0;
                dlo[i] = mapped | be_u(b + 16, 4);
                trunc[i] = hdr[i] < 20;
            } else if (fam[i] == 6) {
                ip_len[i] = (uint32_t)be_u(b + 4, 2) + 40;
                ttl[i] = b[7];
                shi[i] = be_u(b + 8, 8);
                slo[i] = be_u(b + 16, 8);
                dhi[i] = be_u(b + 24, 8);
                dlo[i] = be_u(b + 32, 8);
                df[i] = 1;
                ip_hlen[i] = (uint16_t)(l4[i] != NO_OFFSET ? l4[i] : 40);
                trunc[i] = hdr[i] < 40;
            }
        }
    }
    Py_END_ALLOW_THREADS
    ok = 1;
done:
    for (i = 0; i < got; i++) PyBuffer_Release(&v[i]);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"walk", py_walk, METH_VARARGS,
     "walk(buf, pos, end, base_off, fmt, big_endian, linktypes, iface_base, max_caplen, "
     "records, block) -> (n, new_pos, stop)\n\nSee mtuscope.capture.walk."},
    {"flows", py_flows, METH_VARARGS,
     "flows(src_hi, src_lo, sport, dst_hi, dst_lo, dport, flags, payload, frame, ts, ip_len, "
     "family, seq, conn, dir, first, keys, ports, stats) -> connections\n\n"
     "See mtuscope.capture.walk.flows_py."},
    {"sizes", py_sizes, METH_VARARGS,
     "sizes(columns, out) -> groups\n\nSee mtuscope.capture.walk.sizes_py."},
    {"chains", py_chains, METH_VARARGS,
     "chains(conn, dir, flags, payload, seq, ack, frame, ts, connections, span, max_records, "
     "keep_records, seg_end, state, recs, retx) -> (records, retransmissions)\n\n"
     "See mtuscope.capture.walk.chains_py."},
    {"transport", py_transport, METH_VARARGS,
     "transport(block, rows, l4, hdr_len, wirelen, l3_off, proto, ip_len, fragment, sport, "
     "dport, seq, ack, tcp_flags, win, thl, payload, truncated, lie, syn) -> None\n\n"
     "See mtuscope.capture.decode._transport_np."},
    {"network", py_network, METH_VARARGS,
     "network(block, family, hdr_len, l4_off, src_hi, src_lo, dst_hi, dst_lo, ip_len, ip_hlen, "
     "ttl, ip_id, df, mf, frag_off, fragment, truncated) -> None\n\n"
     "See mtuscope.capture.decode._network_np."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_walker", "Compiled pcap/pcapng record walker (see walk.py).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__walker(void)
{
    /* Bad arguments raise mtuscope's UsageError, as walk_py does (errors.py). */
    PyObject *errors = PyImport_ImportModule("mtuscope.errors");
    if (errors == NULL) return NULL;
    usage_error = PyObject_GetAttrString(errors, "UsageError");
    Py_DECREF(errors);
    if (usage_error == NULL) return NULL;
    return PyModule_Create(&module);
}
