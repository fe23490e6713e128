"""Two containers never get the same port: one would answer for the other's role."""
from __future__ import annotations

import random

from local.model_servers import _free_port


def test_ports_handed_out_in_one_process_are_never_repeated_even_after_seeding():
    ports = []
    for _ in range(40):
        random.seed(7)  # model code seeds the global generator; the ports must not follow it
        ports.append(_free_port("127.0.0.1"))
    assert len(set(ports)) == 40 and all(20000 <= p < 32768 for p in ports)
