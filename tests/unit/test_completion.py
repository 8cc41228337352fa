"""Shell completion for `dugout`, as the README documents it (click's completion protocol)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DUGOUT = Path(sys.executable).parent / "dugout"


def _complete(shell: str, words: str, cword: int) -> list[str]:
    env = {**os.environ, "_DUGOUT_COMPLETE": f"{shell}_complete", "COMP_WORDS": words}
    env["COMP_CWORD"] = str(cword)
    done = subprocess.run([str(DUGOUT)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_bash_completes_commands_and_pipeline_names() -> None:
    assert "plain,serve" in _complete("bash", "dugout se", 1)
    assert {"plain,collection", "plain,full"} <= set(_complete("bash", "dugout run ", 2))


def test_every_documented_shell_gets_a_script() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for shell in ("bash", "zsh", "fish"):
        assert f"_DUGOUT_COMPLETE={shell}_source dugout" in readme, shell
        env = {**os.environ, "_DUGOUT_COMPLETE": f"{shell}_source"}
        done = subprocess.run([str(DUGOUT)], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "_DUGOUT_COMPLETE" in done.stdout, shell
