""" What the benchmarks share: each case measured in a fresh Python process (so that its peak memory is its own and
nothing of one case stays warm for the next), and the points and table written out.

On CUDA the cases run in the calling process instead: the caching allocator counts every live tensor exactly, so a
case's peak is its own without a process of its own, and a fresh process there costs seconds of CUDA start-up
per case (13 s on an H100 machine, most of the run). """
import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import torch


def run_in_fresh_process(script: str, arguments: Sequence[str], failed: Dict, env: Optional[Dict[str, str]] = None) -> Dict:
    """ `python script ARGUMENTS` (with `env` added to the environment), whose last line of output is the case's
    JSON; `failed` plus the error if it fails. """
    result = subprocess.run(
        [sys.executable, script, *arguments], capture_output=True, text=True, env={**os.environ, **(env or {})})
    if result.returncode != 0:
        return dict(failed, error=(result.stderr.strip().splitlines() or ['exit code %d' % result.returncode])[-1])
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_in_this_process(case: Callable[[], Dict], failed: Dict) -> Dict:
    """ `case()` in this process, `failed` plus the error if it raises; CUDA's cached blocks are released after it. """
    try:
        return case()
    except Exception as e:  # noqa: BLE001 (a failed case is a row of the table, as in a fresh process)
        return dict(failed, error=f'{type(e).__name__}: {e}')
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def forwarded_arguments(args: argparse.Namespace, names: Sequence[str]) -> List[str]:
    """ The options `names` of the parsed `args` as command-line arguments for a case's fresh process; options left
    unset (None) are left out. """
    return [item for name in names if getattr(args, name) is not None
            for item in ('--' + name.replace('_', '-'), str(getattr(args, name)))]


def write_points(output: str, points: List[Dict], table: str) -> Path:
    """ points.json, points.csv and the Markdown table in `output`. """
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'points.json').write_text(json.dumps(points, indent=2))
    with (out / 'points.csv').open('w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=sorted({key for point in points for key in point}))
        writer.writeheader()
        writer.writerows(points)
    (out / 'table.md').write_text(table + '\n')
    return out
