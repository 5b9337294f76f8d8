"""Allocation by permuted blocks (random sizes 2 and 4), stratified by site.

The sequence of each site is drawn from a generator seeded with an HMAC of the
project secret and the site id: reproducible by whoever holds the secret, and
not predictable from anything visible in the store. Allocation number n of a
site (counting from 1) takes the n-th arm of that site's sequence.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Iterator
from itertools import islice

ARMS = ("vps", "control")
BLOCK_SIZES = (2, 4)


def site_sequence(secret: bytes, site_id: str) -> Iterator[str]:
    seed = hmac.new(secret, f"vpslog-randomization:{site_id}".encode(), hashlib.sha256).digest()
    rng = random.Random(int.from_bytes(seed, "big"))
    while True:
        block = list(ARMS) * (rng.choice(BLOCK_SIZES) // len(ARMS))
        rng.shuffle(block)
        yield from block


def allocate(secret: bytes, site_id: str, number: int) -> str:
    """The arm of the `number`-th (1-based) randomized participant at a site."""
    return next(islice(site_sequence(secret, site_id), number - 1, None))
