"""One limit on decoding for the whole server, with a lane for costly work, so one visitor cannot starve another.

Every handler that runs a model (the page's and the API's) decodes inside `gate.decoding(work)`: at most
`capacity` sections decode at once, server-wide (Gradio's own limits count per event, and the queue in front
of them is first come, first served). `work` is a rough cost in decoder rows × source tokens (see
`work_of`); work at or above `heavy_work` is costly: at most `heavy_capacity` costly sections decode at once
and at most `heavy_waiting` wait, and any further costly request is refused at once with a one-line message
(BusyError) instead of queueing. A cheap request (a greedy sentence) therefore always finds a decoding slot
after at most one section, and the Gradio workers in front of the gate are never all held by costly waits.
"""

from __future__ import annotations

import contextlib
import threading

from inference import InputError


class BusyError(InputError):
    """A costly request refused because costly work already fills its lane: try again, or ask for less."""


def work_of(source_tokens: int, rows: int = 1) -> int:
    """Decoder work of one section: `rows` decoder rows (beam size, occlusion's S + 1 rows, batch sentences) for
    about as many steps as source tokens, each attending over the source."""
    return max(1, int(source_tokens)) * max(1, int(rows)) * max(1, int(source_tokens))


class DecodeGate:
    def __init__(self, capacity: int = 2, heavy_capacity: int = 1, heavy_waiting: int = 2, heavy_work: int = 40_000):
        self.capacity, self.heavy_capacity = capacity, heavy_capacity
        self.heavy_waiting, self.heavy_work = heavy_waiting, heavy_work
        self._lock = threading.Condition()
        self.running = 0  # sections decoding now
        self.heavy_running = 0
        self.waiting_heavy = 0
        self.waiting_light = 0
        self.peak = 0  # the most sections that ever decoded at once (tests and benchmarks read it)
        self.refused = 0

    def _free(self, heavy: bool) -> bool:
        if self.running >= self.capacity:
            return False
        if heavy:  # cheap work goes first, and costly work never takes the last slots
            return self.heavy_running < self.heavy_capacity and self.waiting_light == 0
        return True

    @contextlib.contextmanager
    def decoding(self, work: int = 1):
        heavy = work >= self.heavy_work
        with self._lock:
            if heavy and not self._free(True) and self.waiting_heavy >= self.heavy_waiting:
                self.refused += 1
                raise BusyError(
                    "The server is busy with other long requests; try again in a minute, or ask for less "
                    "(a shorter text, fewer beams, or /translate instead of /explain)."
                )
            if heavy:
                self.waiting_heavy += 1
            else:
                self.waiting_light += 1
            try:
                while not self._free(heavy):
                    self._lock.wait()
            finally:
                if heavy:
                    self.waiting_heavy -= 1
                else:
                    self.waiting_light -= 1
            self.running += 1
            self.heavy_running += heavy
            self.peak = max(self.peak, self.running)
        try:
            yield
        finally:
            with self._lock:
                self.running -= 1
                self.heavy_running -= heavy
                self._lock.notify_all()
