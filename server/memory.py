"""Process-wide memory settings for the server (applied in server/asgi.py)."""

from __future__ import annotations

import ctypes
import ctypes.util

#: mallopt(3) parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Allocations up to this size come from the heap, and are reused there once freed.
MMAP_THRESHOLD = 16 << 20
#: Free memory the heap keeps, at most, rather than handing it back to the kernel.
TRIM_THRESHOLD = 128 << 20


def keep_large_buffers() -> bool:
    """Make glibc's malloc keep freed buffers of up to 16 MiB for reuse. True if it took.

    By default glibc gives every freed allocation above 128 KiB back to the kernel (mmap and
    munmap, the threshold rising only in steps), and the kernel hands out zeroed pages, one page
    fault per 4 KiB, when the next is made. A pull page is a megabyte several times over (the
    database's joined states, the bytes Python gets, the encoded answer), and so is a push's
    body and answer: about 650 page faults per pull page of 1,000 records, a third of its time
    through HTTP (bench/sync_bench.py's pull). Kept in the heap, they are reused without
    faults. The price is that the process keeps what a burst of large answers made
    (at most TRIM_THRESHOLD of it free). Not glibc (macOS, musl): nothing to do, False.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
