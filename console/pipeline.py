"""The console's "Check, train, test, switch" button: the staff tools run one after the other.

`make check` (staff.check), `make train` without the switch (staff.train --no-reload), `make
test-bot` (staff.test_bot), each as its own process with its output kept for the page; the running
assistant is switched to the new model (staff.train.reload: Rasa's PUT /model) only when all three
passed. One run at a time.
"""
import asyncio
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

logger = logging.getLogger(__name__)

STEPS: Sequence[Tuple[str, List[str]]] = (
    ("Check the data", [sys.executable, "-m", "staff.check"]),
    ("Train", [sys.executable, "-m", "staff.train", "--no-reload"]),
    ("Test", [sys.executable, "-m", "staff.test_bot"]),
)
KEEP_LINES = 300  # of each step's output, the last ones
# the libraries' warnings for developers (deprecations, TensorFlow's start-up) are noise on the page
QUIET = {"PYTHONWARNINGS": "ignore", "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


@dataclass
class Step:
    name: str
    state: str = "waiting"  # waiting, running, passed, failed
    output: List[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Run:
    by: str
    steps: List[Step]
    started: float = field(default_factory=time.time)
    state: str = "running"  # running, failed, switched, not switched

    @property
    def running(self) -> bool:
        return self.state == "running"


class Pipeline:
    """Runs the steps in the background; `switch` (blocking, True when done) runs only if all pass."""

    def __init__(self, switch: Callable[[], bool], steps: Sequence[Tuple[str, List[str]]] = STEPS, cwd: Optional[str] = None) -> None:
        self.switch, self.steps, self.cwd = switch, steps, cwd
        self.run: Optional[Run] = None
        self.task: Optional["asyncio.Task[None]"] = None

    def start(self, by: str) -> bool:
        """Start a run; False when one is running already."""
        if self.run is not None and self.run.running:
            return False
        self.run = Run(by, [Step(name) for name, _ in self.steps])
        self.task = asyncio.get_running_loop().create_task(self._go(self.run))
        return True

    async def _go(self, run: Run) -> None:
        for step, (_, cmd) in zip(run.steps, self.steps):
            if not await self._step(step, cmd):
                run.state = "failed"
                return
        switched = await asyncio.get_running_loop().run_in_executor(None, self.switch)
        run.state = "switched" if switched else "not switched"

    async def _step(self, step: Step, cmd: List[str]) -> bool:
        step.state, started = "running", time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(*cmd, cwd=self.cwd, env={**os.environ, **QUIET}, stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.STDOUT)
            assert proc.stdout is not None
            async for raw in proc.stdout:
                step.output.append(raw.decode(errors="replace").rstrip())
                del step.output[:-KEEP_LINES]
            ok = await proc.wait() == 0
        except OSError as e:
            step.output.append(f"could not start: {e}")
            ok = False
        step.seconds = time.monotonic() - started
        step.state = "passed" if ok else "failed"
        logger.info("%s: %s in %.0f s", step.name, step.state, step.seconds)
        return ok
