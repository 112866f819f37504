"""Version vectors: which edits of one record a state has seen."""

import enum

#: replica id -> highest counter seen. A missing key means 0, so zero entries
#: are never stored: two equal vectors are then equal dicts.
VV = dict[str, int]


class Order(enum.Enum):
    """How vector ``a`` stands relative to vector ``b``."""

    BEFORE = "before"
    AFTER = "after"
    EQUAL = "equal"
    CONCURRENT = "concurrent"


def increment(vv: VV, replica: str) -> VV:
    """Return a new vector with ``replica``'s counter one higher."""
    out = dict(vv)
    out[replica] = vv.get(replica, 0) + 1
    return out


def seen(vv: VV, replica: str, counter: int) -> bool:
    """Whether the dot ``(replica, counter)`` is seen by ``vv``."""
    return vv.get(replica, 0) >= counter


def merge(a: VV, b: VV) -> VV:
    """Pointwise maximum, as a new dict with keys sorted and no zero entries."""
    out: VV = {}
    for replica in sorted(a.keys() | b.keys()):
        counter = max(a.get(replica, 0), b.get(replica, 0))
        if counter > 0:
            out[replica] = counter
    return out


def compare(a: VV, b: VV) -> Order:
    """Order of ``a`` relative to ``b``: BEFORE means ``a`` < ``b`` strictly."""
    a_ahead = b_ahead = False
    for replica in a.keys() | b.keys():
        x, y = a.get(replica, 0), b.get(replica, 0)
        if x > y:
            a_ahead = True
        elif y > x:
            b_ahead = True
    if a_ahead and b_ahead:
        return Order.CONCURRENT
    if a_ahead:
        return Order.AFTER
    if b_ahead:
        return Order.BEFORE
    return Order.EQUAL
