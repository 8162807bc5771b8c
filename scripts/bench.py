#!/usr/bin/env python3
"""The national-scale benchmark harness (issue 8): one command, sizes as arguments.

    cargo build --release
    python3 scripts/bench.py 100000 1000000            # both backends
    python3 scripts/bench.py 10000 --backends sqlite   # a quick look

For each size N and each backend (SQLite, PostgreSQL) it measures, with the release
binary, and prints as Markdown tables (also written to bench-out/results-N.md):

- `import` of the N-session generated set (`generate --sessions N --seed 42`, plain JSONL);
- the full export (first generation), an unchanged re-export, and a re-export after 1 % of
  the offers changed upstream (`scripts/edit_offers.py --every 100`, then `import`);
- in the same run, on the exported file, the reference tools: `xmllint --stream --schema`
  validating it against the official XSD (the C reference reader of LHÉO), `openssl dgst
  -sha256` over it (the hash's floor) and `cat` of it to /dev/null (the copy floor);
- when the binary has them: the push of the 1 % change to three local receivers, and the
  feed served to `wrk` (the 304 path, the changes path) and the full snapshot downloaded
  with `curl` against `cat`.

Wall time, CPU time (user + system of the measured process, children included) and peak
RSS come from `/usr/bin/time -f "%e %U %S %M"`. PostgreSQL's own work is not in the CPU
column (another process). Each PostgreSQL run gets a fresh database `lheo_bench_N`
(dropped and created again); set LHEO_FEED_BENCH_PG to point elsewhere.

Standard library only. Needs: /usr/bin/time, xmllint, openssl, and for the feed part wrk
and curl (`apt-get install -y time libxml2-utils openssl wrk curl`).
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "lheo-feed"
XSD = ROOT.parent / "shared" / "lheo" / "lheo-2.3.xsd"
TODAY = "2025-06-02"


def run_timed(cmd, env=None, stdout=None):
    """Runs cmd under /usr/bin/time; returns (wall, cpu, rss_mib, stdout_text)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        full = ["/usr/bin/time", "-f", "%e %U %S %M", "-o", t.name] + [str(c) for c in cmd]
        p = subprocess.run(full, env=env, stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
        if p.returncode != 0:
            sys.exit(f"failed ({p.returncode}): {' '.join(map(str, cmd))}\n{p.stderr[-4000:]}")
        wall, user, sys_, rss = t.read().split()[-4:]
        out = p.stdout if stdout is None else ""
        return float(wall), float(user) + float(sys_), int(rss) / 1024, out


def fmt(x):
    """Seconds or MiB with the precision that small values need."""
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def lheo(url, *args):
    return [BIN, "--database-url", url, *args]


def fresh_pg_db(name):
    base = os.environ.get("LHEO_FEED_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    admin = f"{base}/postgres"
    env = dict(os.environ, PGOPTIONS="--client-min-messages=warning")
    subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=True,
                   stdout=subprocess.DEVNULL, env=env)
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], check=True,
                   stdout=subprocess.DEVNULL)
    return f"{base}/{name}"


def has_command(name):
    p = subprocess.run([BIN, name, "--help"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p.returncode == 0


class Table:
    def __init__(self, title, header):
        self.lines = [f"### {title}", "", "| " + " | ".join(header) + " |",
                      "|" + "---|" * len(header)]

    def row(self, *cells):
        line = "| " + " | ".join(str(c) for c in cells) + " |"
        self.lines.append(line)
        print(line, flush=True)

    def text(self):
        return "\n".join(self.lines) + "\n"


def machine():
    cpus = os.cpu_count()
    mem = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    load = os.getloadavg()
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.node()}: {cpus} CPU ({model}), {mem}, {platform.system()} "
            f"{platform.release()}; load average at start {load[0]:.2f}")


def bench_size(n, backends, workdir, skip_refs):
    d = workdir / f"n{n}"
    d.mkdir(parents=True, exist_ok=True)
    data = d / "data.jsonl"
    edit = d / "edit.jsonl"
    if not data.exists():
        print(f"generating {n} sessions…", file=sys.stderr)
        subprocess.run([BIN, "generate", "--sessions", str(n), "--seed", "42", "--out", data],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([sys.executable, ROOT / "scripts" / "edit_offers.py", data, edit,
                        "--every", "100"], check=True, stdout=subprocess.DEVNULL)
    results = []
    t = Table(f"N = {n:,} sessions".replace(",", " "),
              ["backend", "step", "wall (s)", "CPU (s)", "peak RSS (MiB)", "detail",
               "ratio"])
    for backend in backends:
        if backend == "sqlite":
            db = d / "bench.sqlite"
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
            url = f"sqlite://{db}"
        else:
            url = fresh_pg_db(f"lheo_bench_{n}")
        out_dir = d / backend
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.mkdir()
        out = out_dir / "lheo.xml"

        wall, cpu, rss, _ = run_timed(lheo(url, "import", data))
        t.row(backend, "import", fmt(wall), fmt(cpu), fmt(rss),
              f"{n / wall:,.0f} sessions/s".replace(",", " "), "")

        def export(label):
            wall, cpu, rss, text = run_timed(
                lheo(url, "export", "--today", TODAY, "--json", "--out", out))
            s = json.loads(text)
            detail = (f"{s['mode']}; {s['created']}/{s['updated']}/{s['withdrawn']}/"
                      f"{s['unchanged']} c/u/w/=; {s['bytes'] / 1e6:,.0f} MB")
            return wall, cpu, rss, s, detail

        full_wall, cpu, rss, s, detail = export("full")
        t.row(backend, "full export", fmt(full_wall), fmt(cpu), fmt(rss), detail,
              "1")
        refs = {}
        if not skip_refs:
            w, c, r, _ = run_timed(["xmllint", "--noout", "--stream", "--schema", XSD, out])
            refs["xmllint"] = w
            t.row(backend, "ref: `xmllint --stream --schema`", fmt(w), fmt(c),
                  fmt(r), "same file",
                  f"export / xmllint = {full_wall / w:.2f}")
            w, c, r, _ = run_timed(["openssl", "dgst", "-sha256", out])
            t.row(backend, "ref: `openssl dgst -sha256`", fmt(w), fmt(c), fmt(r),
                  "same file", f"export / openssl = {full_wall / w:.1f}")
            with open(os.devnull, "w") as null:
                w, c, r, _ = run_timed(["cat", out], stdout=null)
            t.row(backend, "ref: `cat` > /dev/null", fmt(w), fmt(c), fmt(r),
                  "same file (page cache warm)", f"export / cat = {full_wall / max(w, 0.01):.0f}")
        wall, cpu, rss, s, detail = export("unchanged")
        t.row(backend, "unchanged re-export", fmt(wall), fmt(cpu), fmt(rss), detail,
              f"{100 * wall / full_wall:.1f} % of full")
        subprocess.run(lheo(url, "import", edit), check=True, stdout=subprocess.DEVNULL)
        wall, cpu, rss, s, detail = export("1 %")
        t.row(backend, "1 % change re-export", fmt(wall), fmt(cpu), fmt(rss),
              detail, f"{100 * wall / full_wall:.1f} % of full")
        results.append((backend, url, out))
    return t, results


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sizes", nargs="+", type=int)
    p.add_argument("--backends", default="sqlite,postgres")
    p.add_argument("--workdir", default=str(ROOT / "bench-out"))
    p.add_argument("--skip-refs", action="store_true", help="skip the reference tools")
    a = p.parse_args()
    if not BIN.exists():
        sys.exit("build first: cargo build --release")
    workdir = Path(a.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    header = f"Machine: {machine()}. Started {time.strftime('%Y-%m-%d %H:%M:%S %Z')}."
    print(header)
    for n in a.sizes:
        t, _ = bench_size(n, a.backends.split(","), workdir, a.skip_refs)
        (workdir / f"results-{n}.md").write_text(header + "\n\n" + t.text())


if __name__ == "__main__":
    main()
