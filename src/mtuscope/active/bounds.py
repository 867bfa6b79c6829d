"""What is known about one MTU, and which sizes to try next.

Layer: active/. Pure arithmetic on sizes; no I/O, no clock.

The MTU toward a target (the destination, or one hop) lies in `lo .. limit()-1`:

- `lo` is the largest size that *got through* (the target answered it). It is
  the only number ever reported as an MTU, so a result is never larger than
  what actually got through.
- `hi` is the smallest size *refused* by a too-big message (or the ceiling
  plus one). A refusal is a fact about the size refused.
- The MTU quoted by a too-big message is only a hint: routers lie (0 from
  pre-RFC 1191 routers, or a plausible number that is simply wrong). A hint
  `m` is tried as the pair `m` (should pass) and `m + 1` (should be refused);
  only those probes' fates count.
- Silence is weaker than a refusal: a probe may simply be lost. A silent size
  `s` counts as not getting through once `attempts` silent probes lie in
  `lo+1 .. s` (a silent probe of size `t <= s` means `s` cannot pass either,
  unless that probe was lost). A success above a silence overrules it: that
  silence was loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True, kw_only=True)
class SizeBounds:
    """Mutable bounds on one MTU, in bytes (internal to the engines)."""

    floor: int
    """Smallest size ever probed."""
    ceiling: int
    """Largest size ever probed (the interface MTU)."""
    attempts: int = 2
    lo: int = -1
    """Largest size that got through; `floor - 1` when none has."""
    hi: int = -1
    """Smallest size refused by a too-big message; `ceiling + 1` when none was."""
    silent: list[int] = field(default_factory=list)
    """Sizes of probes that got no answer, one entry per probe."""
    hints: set[int] = field(default_factory=set)
    """MTU values quoted by usable too-big messages, not yet checked."""

    def __post_init__(self) -> None:
        if self.lo < 0:
            self.lo = self.floor - 1
        if self.hi < 0:
            self.hi = self.ceiling + 1

    @property
    def hi_explicit(self) -> bool:
        """Whether some size was refused by a too-big message (not just the ceiling)."""
        return self.hi <= self.ceiling

    def reached(self, size: int) -> None:
        """A probe of `size` got through."""
        if size > self.lo:
            self.lo = size
        if self.lo >= self.hi:
            # The refusal was wrong (a route change, a confused router): what got through wins.
            self.hi = max(self.ceiling, self.lo) + 1

    def refused(self, size: int, mtu: int | None = None) -> None:
        """A too-big message for a probe of `size`, with its MTU if that value is usable."""
        if self.lo < size < self.hi:
            self.hi = size
        if mtu is not None:
            self.hints.add(mtu)

    def lost(self, size: int) -> None:
        """A probe of `size` got no answer in time."""
        self.silent.append(size)

    def _silent_above(self) -> list[int]:
        return sorted(s for s in self.silent if self.lo < s < self.hi)

    def silent_limit(self) -> int | None:
        """The smallest size that silence alone proves does not get through, if any."""
        for count, size in enumerate(self._silent_above(), start=1):
            if count >= self.attempts:
                return size
        return None

    def limit(self) -> int:
        """The confirmed exclusive upper bound."""
        silent = self.silent_limit()
        return self.hi if silent is None else min(self.hi, silent)

    @property
    def converged(self) -> bool:
        """True when `lo` is the exact MTU (or nothing at or above the floor gets through)."""
        return self.limit() <= self.lo + 1

    @property
    def by_silence(self) -> bool:
        """True when the bound that decided it came from silence, not from a too-big message."""
        silent = self.silent_limit()
        return silent is not None and silent < self.hi

    @property
    def any_reached(self) -> bool:
        return self.lo >= self.floor

    def _hint(self, top: int) -> int | None:
        """The largest hint still worth checking below `top`."""
        live = [m for m in self.hints if self.lo <= m and m + 1 < top]
        return max(live) if live else None

    def next_sizes(
        self,
        width: int,
        *,
        edge: int | None = None,
        table: tuple[int, ...] = (),
        edge_with_ceiling: bool = True,
    ) -> list[int]:
        """Sizes for the next parallel round (with repeats where a retry is due).

        Args:
            width: at most this many distinct new sizes inside the open interval.
            edge: a size known from elsewhere (the path MTU); while `lo` is exactly it
                and nothing is silent yet, also try `lo + 1` (`attempts` times): the
                cheap test of "exactly `edge`". Once a larger size failed, `lo` equal
                to it is a likely MTU, as a table entry is.
            table: likely MTUs; inside an interval wider than `width`, these are tried
                before evenly spaced sizes, and `lo` being one is tested first.
            edge_with_ceiling: test "exactly `edge`" in the same round as the ceiling
                (saves a round when the ceiling fails, costs `attempts` probes when it
                gets through); False: the ceiling alone first.

        Returns:
            Sizes to send; empty when converged.
        """
        if self.converged:
            return []
        above = self._silent_above()
        top = above[0] if above else self.hi
        hint = self._hint(top)
        if hint is not None:
            # Check the quoted MTU: it should pass, one byte more should not.
            return ([hint] if hint > self.lo else []) + [hint + 1]
        if not above and not self.hi_explicit:
            # Nothing refused or silent yet: try the ceiling.
            out = [self.hi - 1]
            if edge == self.lo and self.lo + 1 < self.hi - 1 and edge_with_ceiling:
                out += [self.lo + 1] * self.attempts
            return out
        # `top` is the smallest silent (or refused) size; only its own probes confirm silence.
        count = above.count(top) if above else self.attempts
        confirmed = count >= self.attempts
        interior = range(self.lo + 1, top)
        if not interior:
            return [top] * max(1, self.attempts - count)
        lo_likely = self.lo in table or self.lo == edge
        if lo_likely and self.lo + 1 < top and self.lo + 1 not in self.silent:
            # The largest size through is a likely MTU (a table entry, or the MTU known
            # from elsewhere) and a larger one failed: the likeliest answer is `lo`
            # itself. `lo + 1` alone tests it before the interior is searched: a refusal
            # proves it at once; silence `attempts + 1` times, one more than elsewhere,
            # since no probe of the interior can overrule a loss (bench/search_loss.py).
            return [self.lo + 1] * (self.attempts + 1 if above else 1)
        out = [] if confirmed else [top]
        if len(interior) <= width:
            # Few enough to try them all; the likeliest answer, lo + 1, gets its retry now.
            out += list(interior) + [self.lo + 1] * (self.attempts - 1)
        else:
            # Likely MTUs first (and lo + 1: right behind a drop), else evenly spaced sizes.
            likely = [t for t in table if self.lo + 1 < t < top]
            step = len(interior) / width
            spaced = [self.lo + 1 + int(i * step) for i in range(width)]
            out += sorted({self.lo + 1, *likely}) if likely else sorted(set(spaced))
            if not self.any_reached:
                out += [self.lo + 1] * (self.attempts - 1)
        return out
