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
  -sha256` over it (the floor of a SHA-256 document digest; documents are named by BLAKE3
  since session 15, src/digest.rs) and `cat` of it to /dev/null (the copy floor);
- with two sizes or more, issue 20's targets: each measure at the largest N against the
  smallest, per backend (also written to bench-out/targets.md);
- the changes endpoint of the largest N measured again, in turns with the smallest N's
  store served beside it (three `wrk` runs each, the ratio of the medians): the two sizes'
  own figures are minutes apart, and this machine's speed moves by more than the 0.8
  target's margin between them (docs/BENCHMARKS.md, session 16);
- when the binary has them: the push of the 1 % change to three local receivers (above
  `--full-push-max`, the consumers first take the full snapshot by file, `deliveries
  baseline`, as a national consumer would at that size), and the
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
import re
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


def run_timed(cmd, env=None, stdout=None, stderr_lines=None):
    """Runs cmd under /usr/bin/time; returns (wall, cpu, rss_mib, stdout_text).

    `sync` first, untimed: a step started while the previous one's gigabytes are still
    being written back (the export's 9 GB at a million sessions, the second host's copy)
    runs 2-3x slower, and that is the disk, not the step (docs/BENCHMARKS.md)."""
    subprocess.run(["sync"], check=True)
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        full = ["/usr/bin/time", "-f", "%e %U %S %M", "-o", t.name] + [str(c) for c in cmd]
        p = subprocess.run(full, env=env, stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
        if p.returncode != 0:
            sys.exit(f"failed ({p.returncode}): {' '.join(map(str, cmd))}\n{p.stderr[-4000:]}")
        wall, user, sys_, rss = t.read().split()[-4:]
        out = p.stdout if stdout is None else ""
        if stderr_lines is not None:
            stderr_lines.extend(p.stderr.splitlines())
        return float(wall), float(user) + float(sys_), int(rss) / 1024, out


def export_phases(log):
    """The export's phases from its `lheo_feed::generation` debug lines ("export: WHAT
    elapsed=…"): evaluate and stream, the write phase, the commit. Which of them grows
    faster than N is what issue 20 asks; empty when the lines are not there."""
    at = {}
    for line in log:
        m = re.search(r"export: (.+?) elapsed=([0-9.]+)(ns|µs|us|ms|s)\b",
                      re.sub(r"\x1b\[[0-9;]*m", "", line))
        if m:
            scale = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}[m.group(3)]
            at[m.group(1)] = float(m.group(2)) * scale
    try:
        stream = at["offers evaluated and snapshot streamed"]
        write = at["published offers, changes and evaluations written"] - at["snapshot synced"]
        commit = at["committed"] - at["generation written"]
    except KeyError:
        return ""
    return f"; stream {stream:.1f} s, write {write:.1f} s, commit {commit:.1f} s"


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
        # Figures kept for the targets of issue 20 (`targets`), per backend.
        self.metrics = {}

    def row(self, *cells):
        line = "| " + " | ".join(str(c) for c in cells) + " |"
        self.lines.append(line)
        print(line, flush=True)
        backend, step, rss = cells[0], cells[1], cells[4]
        if not step.startswith("ref:") and rss != "":
            m = self.metrics.setdefault(backend, {})
            m["peak_rss"] = max(m.get("peak_rss", 0.0), float(rss))

    def keep(self, backend, key, value):
        self.metrics.setdefault(backend, {})[key] = value

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


RECEIVER = ROOT / "target" / "release" / "examples" / "receiver"
RECEIVER_PORTS = (18801, 18802, 18803)
SERVE_PORT = 18090
SIGNING_ENV = "LHEO_FEED_BENCH_WHSEC"


def start_receivers(workdir):
    """Three loopback consumers (examples/receiver.rs) and the configuration naming them."""
    env = dict(os.environ, LHEO_FEED_RECEIVER_KEY="bench-signing-key")
    procs = [subprocess.Popen([RECEIVER, f"127.0.0.1:{port}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for port in RECEIVER_PORTS]
    config = workdir / "consumers.toml"
    lines = ["[push]", "concurrency = 3", ""]
    for i, port in enumerate(RECEIVER_PORTS, 1):
        lines += ["[[consumers]]", f'name = "c{i}"', f'url = "http://127.0.0.1:{port}/lheo"',
                  f'signing_secrets = [{{ env = "{SIGNING_ENV}" }}]', "max_offres = 500", ""]
    config.write_text("\n".join(lines))
    time.sleep(0.5)
    # A receiver that could not listen (its port still held by the previous size's, say)
    # would leave its consumer retrying through the whole push: stop here instead.
    dead = [port for port, p in zip(RECEIVER_PORTS, procs) if p.poll() is not None]
    if dead:
        for p in procs:
            p.terminate()
        sys.exit(f"receivers on ports {dead} exited at start (port in use?)")
    return procs, config


def wrk(label, url, headers, seconds):
    cmd = ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [url], check=True, capture_output=True, text=True).stdout
    rps = next(l.split()[1] for l in out.splitlines() if l.startswith("Requests/sec"))
    p99 = next(l.split()[1] for l in out.splitlines() if l.strip().startswith("99%"))
    bad = [l for l in out.splitlines() if "Non-2xx" in l]
    return rps, p99, (bad[0].strip() if bad else "")


def head(url, headers):
    cmd = ["curl", "-s", "-D", "-", "-o", "/dev/null"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [url], check=True, capture_output=True, text=True).stdout
    return {k.strip().lower(): v.strip() for k, v in
            (l.split(":", 1) for l in out.splitlines() if ":" in l)}


def bench_size(n, backends, workdir, skip_refs, full_push_max, wrk_seconds, keep=False,
               reference=None):
    """Measures size `n` on each backend. With `keep`, each backend's store stays (for the
    turns of a larger size's changes endpoint); returned, per backend, as its database URL,
    a partner key and the cursor of its full snapshot. `reference` is such a dict from the
    smallest size."""
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
    t = Table(f"N = {n:,} sessions".replace(",", " "),
              ["backend", "step", "wall (s)", "CPU (s)", "peak RSS (MiB)", "detail",
               "ratio"])
    push_on = RECEIVER.exists()
    # Above --full-push-max the consumers take the first snapshot by file (`deliveries
    # baseline`) instead of through HTTP batches, and only the 1 % change is pushed.
    full_push = n <= full_push_max
    serve_on = shutil.which("wrk") is not None and shutil.which("curl") is not None
    receivers, consumers = start_receivers(d) if push_on else ([], None)
    os.environ[SIGNING_ENV] = "bench-signing-key"
    kept = {}
    try:
        for backend in backends:
            kept[backend] = one_backend(t, n, backend, d, data, edit, skip_refs, consumers,
                                        full_push, serve_on, wrk_seconds, keep,
                                        (reference or {}).get(backend))
    finally:
        for p in receivers:
            p.terminate()
        # Waited for, so that the next size's receivers find their ports free.
        for p in receivers:
            p.wait()
    if push_on and not full_push:
        t.lines.append("")
        t.lines.append(f"(at this size the three consumers took the first generation by file, "
                       f"`deliveries baseline`, instead of its push through HTTP batches; "
                       f"`--full-push-max {n}` to push it)")
    return t, kept


def drop_store(n, backend, d):
    """Removes what `one_backend` left of size `n`'s store on `backend`."""
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(str(d / "bench.sqlite") + suffix).unlink(missing_ok=True)
    else:
        env = dict(os.environ, PGOPTIONS="--client-min-messages=warning")
        base = os.environ.get("LHEO_FEED_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
        subprocess.run(["psql", f"{base}/postgres", "-qc",
                        f"DROP DATABASE IF EXISTS lheo_bench_{n} WITH (FORCE)"],
                       env=env, stdout=subprocess.DEVNULL)


def start_server(url, port):
    """`lheo-feed serve` on `port`, once it answers /health."""
    server = subprocess.Popen(lheo(url, "serve", "--listen", f"127.0.0.1:{port}",
                                   "--rate-limit", "0"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/health"],
                          stdout=subprocess.DEVNULL).returncode == 0:
            break
        time.sleep(0.1)
    return server


def median(values):
    v = sorted(values)
    return (v[len(v) // 2] + v[(len(v) - 1) // 2]) / 2


NGINX_PORT = 18091


def nginx_download(out, d):
    """Seconds for `curl` to download `out` from a throw-away nginx on loopback (sendfile),
    the reference for the snapshot download; None without nginx."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                      else None)
    if nginx is None:
        return None
    prefix = d / "nginx"
    shutil.rmtree(prefix, ignore_errors=True)
    prefix.mkdir()
    user = "user root;\n" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes 1;\npid nginx.pid;\nerror_log error.log;\n"
        "events { worker_connections 64; }\n"
        "http { access_log off; sendfile on; tcp_nopush on;\n"
        f"  server {{ listen 127.0.0.1:{NGINX_PORT}; root {out.parent};\n"
        "    location / { default_type application/xml; } } }\n")
    server = subprocess.Popen([nginx, "-p", f"{prefix}/", "-c", str(prefix / "nginx.conf")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{NGINX_PORT}/{out.name}"
        # Ready once a whole GET succeeds (untimed; it also warms what nginx opens). One
        # harness run once lost its timed GET to a refused connection right after a HEAD
        # had answered, so the wait is for a real download, for up to 20 s.
        for _ in range(200):
            if subprocess.run(["curl", "-sf", "-o", "/dev/null", url]).returncode == 0:
                break
            time.sleep(0.1)
        try:
            w, _, _, _ = run_timed(["curl", "-sf", "-o", "/dev/null", url])
        except SystemExit as e:
            # Measured again rather than retried inside the timing (a retry's back-off
            # would be counted as nginx's time).
            print(f"nginx download failed, measuring again: {e}", file=sys.stderr)
            time.sleep(1)
            w, _, _, _ = run_timed(["curl", "-sf", "-o", "/dev/null", url])
        return w
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(prefix, ignore_errors=True)


def one_backend(t, n, backend, d, data, edit, skip_refs, consumers, full_push, serve_on,
                wrk_seconds, keep, reference):
    if backend == "sqlite":
        drop_store(n, backend, d)  # what an interrupted run left
        url = f"sqlite://{d / 'bench.sqlite'}"
    else:
        url = fresh_pg_db(f"lheo_bench_{n}")
    out_dir = d / backend
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir()
    out = out_dir / "lheo.xml"
    cfg = ["--config", str(consumers)] if consumers else []

    wall, cpu, rss, _ = run_timed(lheo(url, "import", data))
    t.row(backend, "import", fmt(wall), fmt(cpu), fmt(rss),
          f"{n / wall:,.0f} sessions/s".replace(",", " "), "")

    def export():
        log = []
        wall, cpu, rss, text = run_timed(
            lheo(url, *cfg, "export", "--today", TODAY, "--json", "--out", out),
            env=dict(os.environ, LHEO_FEED_LOG="warn,lheo_feed::generation=debug"),
            stderr_lines=log)
        s = json.loads(text)
        detail = (f"{s['mode']}; {s['created']}/{s['updated']}/{s['withdrawn']}/"
                  f"{s['unchanged']} c/u/w/=; {s['bytes'] / 1e6:,.0f} MB{export_phases(log)}")
        return wall, cpu, rss, s, detail

    def push(label, full_bytes=None):
        wall, cpu, rss, text = run_timed(lheo(url, *cfg, "push", "--once", "--json"))
        s = json.loads(text)
        offres = sum(c["offres_delivered"] for c in s["consumers"])
        sent = sum(c["body_bytes"] for c in s["consumers"])
        ratio = (f"{100 * sent / full_bytes:.2f} % of the full snapshot's bytes to 3"
                 if full_bytes else f"{offres / max(wall, 1e-9):,.0f} offers/s".replace(",", " "))
        t.row(backend, label, fmt(wall), fmt(cpu), fmt(rss),
              f"{offres} offers to 3 receivers, {sent / 1e6:,.1f} MB sent", ratio)
        return sent

    full_wall, cpu, rss, s, detail = export()
    t.row(backend, "full export", fmt(full_wall), fmt(cpu), fmt(rss), detail, "1")
    t.keep(backend, "full_export", full_wall)
    if not skip_refs:
        w, c, r, _ = run_timed(["xmllint", "--noout", "--stream", "--schema", XSD, out])
        t.keep(backend, "xmllint", w)
        t.row(backend, "ref: `xmllint --stream --schema`", fmt(w), fmt(c), fmt(r), "same file",
              f"export / xmllint = {full_wall / w:.2f}")
        w, c, r, _ = run_timed(["openssl", "dgst", "-sha256", out])
        t.row(backend, "ref: `openssl dgst -sha256`", fmt(w), fmt(c), fmt(r), "same file",
              f"export / openssl = {full_wall / w:.1f}")
        with open(os.devnull, "w") as null:
            w, c, r, _ = run_timed(["cat", out], stdout=null)
        cat_wall = w
        t.row(backend, "ref: `cat` > /dev/null", fmt(w), fmt(c), fmt(r),
              "same file (page cache warm)", f"export / cat = {full_wall / max(w, 0.01):.0f}")
        # The durable-write floor: the export must fsync a document of this size (and its
        # twin) before it commits; on a slow disk that, not the CPU, bounds it.
        copy = out_dir / "dd-copy"
        w, c, r, _ = run_timed(["dd", f"if={out}", f"of={copy}", "bs=4M", "conv=fsync",
                                "status=none"])
        copy.unlink(missing_ok=True)
        t.row(backend, "ref: `dd bs=4M conv=fsync` copy", fmt(w), fmt(c), fmt(r),
              f"same file, {out.stat().st_size / 1e6 / max(w, 0.01):,.0f} MB/s to disk",
              f"export / dd = {full_wall / max(w, 0.01):.2f}")
    if has_command("materialise"):
        # A second host (issue 21): the same generation's document and twin made from the
        # database into an empty folder, against `cat` of the exporting host's file.
        other = d / f"{backend}-host-b"
        shutil.rmtree(other, ignore_errors=True)
        w, c, r, text = run_timed(lheo(url, "materialise", "--json", "--out",
                                       other / "lheo.xml"))
        m = json.loads(text)
        same = subprocess.run(["cmp", "-s", out, other / "lheo.xml"]).returncode == 0
        with open(os.devnull, "w") as null:
            cw, _, _, _ = run_timed(["cat", out], stdout=null)
        t.row(backend, "materialise on a second host", fmt(w), fmt(c), fmt(r),
              f"{m['offers']} offers, {m['bytes'] / 1e6:,.0f} MB, "
              f"{'identical' if same else 'DIFFERENT'} bytes",
              f"materialise / cat = {w / max(cw, 0.01):.1f}")
        shutil.rmtree(other, ignore_errors=True)
    full_sent = None
    if consumers and full_push:
        full_sent = push("push: full snapshot (first delivery)")
    elif consumers:
        # What the full push would have sent: the document, once per consumer.
        full_sent = 3 * out.stat().st_size
        wall = cpu = 0.0
        rss = 0.0
        for c in ("c1", "c2", "c3"):
            w, cp, r, text = run_timed(lheo(url, "--config", consumers, "deliveries", "baseline",
                                            "--consumer", c, "--generation",
                                            str(s["generation"]), "--json"))
            wall, cpu, rss = wall + w, cpu + cp, max(rss, r)
            held = json.loads(text)["offres"]
        t.row(backend, "baseline: 3 consumers took the snapshot by file", fmt(wall), fmt(cpu),
              fmt(rss), f"`deliveries baseline`, {held} offers each", "")

    server = None
    kept = None
    if serve_on:
        key = json.loads(subprocess.run(lheo(url, "partner", "add", f"bench-{backend}", "--json"),
                                        check=True, capture_output=True, text=True).stdout)["key"]
        server = start_server(url, SERVE_PORT)
        base = f"http://127.0.0.1:{SERVE_PORT}"
        auth = f"Authorization: Bearer {key}"
        cursor = head(f"{base}/feed/lheo.xml", [auth]).get("lheo-feed-cursor", "")
    try:
        wall, cpu, rss, s, detail = export()
        t.row(backend, "unchanged re-export", fmt(wall), fmt(cpu), fmt(rss), detail,
              f"{100 * wall / full_wall:.1f} % of full")
        subprocess.run(lheo(url, "import", edit), check=True, stdout=subprocess.DEVNULL)
        wall, cpu, rss, s, detail = export()
        t.keep(backend, "change", wall)
        t.row(backend, "1 % change re-export", fmt(wall), fmt(cpu), fmt(rss), detail,
              f"{100 * wall / full_wall:.1f} % of full")
        if consumers:
            push("push: the 1 % change", full_sent)
        if server:
            etag = head(f"{base}/feed/lheo.xml", [auth]).get("etag", "")
            rps, p99, bad = wrk("304", f"{base}/feed/lheo.xml", [auth, f"If-None-Match: {etag}"],
                                wrk_seconds)
            t.row(backend, "feed: 304 path (`wrk -t2 -c16`)", "", "", "",
                  f"{rps} requests/s, p99 {p99} {bad}", "")
            rps, p99, bad = wrk("changes", f"{base}/feed/changes?cursor={cursor}", [auth],
                                wrk_seconds)
            t.keep(backend, "changes_rps", float(rps))
            t.row(backend, "feed: changes since the full export", "", "", "",
                  f"{rps} requests/s, p99 {p99} {bad}", "")
            if keep:
                kept = {"url": url, "auth": auth, "cursor": cursor}
            if reference:
                changes_in_turns(t, n, backend, f"{base}/feed/changes?cursor={cursor}", auth,
                                 reference, wrk_seconds)
            size = out.stat().st_size
            with open(os.devnull, "w") as null:
                w, c, r, _ = run_timed(["cat", out], stdout=null)
            cw = max(w, 0.01)
            w, c, r, _ = run_timed(["curl", "-s", "-o", "/dev/null", "-H", auth,
                                    f"{base}/feed/lheo.xml"])
            t.row(backend, "feed: full snapshot download (`curl`)", fmt(w), fmt(c), fmt(r),
                  f"{size / 1e6 / max(w, 0.01):,.0f} MB/s; `cat`: {size / 1e6 / cw:,.0f} MB/s",
                  f"{100 * cw / max(w, 0.01):.0f} % of cat's rate")
            ours = max(w, 0.01)
            nw = nginx_download(out, d)
            if nw is not None:
                t.keep(backend, "download_vs_nginx", max(nw, 0.01) / ours)
                t.row(backend, "ref: the same file from nginx (`sendfile`) to `curl`", fmt(nw),
                      "", "", f"{size / 1e6 / max(nw, 0.01):,.0f} MB/s",
                      f"lheo-feed / nginx rate = {max(nw, 0.01) / ours:.2f}")
    finally:
        if server:
            server.terminate()
            server.wait()
    # Disk: the next backend needs the room (a million sessions: ~20 GB per backend). A
    # kept store is the database alone: the changes endpoint reads nothing else.
    shutil.rmtree(out_dir, ignore_errors=True)
    if kept is None:
        drop_store(n, backend, d)
    return kept


def changes_in_turns(t, n, backend, url, auth, reference, wrk_seconds, turns=3):
    """The changes endpoint at this size and at the smallest size's kept store, served
    beside it, measured in turns: the ratio of the medians compares the two sizes on the
    same machine at the same minutes."""
    other = start_server(reference["url"], SERVE_PORT + 1)
    small_url = (f"http://127.0.0.1:{SERVE_PORT + 1}/feed/changes?"
                 f"cursor={reference['cursor']}")
    large, small = [], []
    try:
        for _ in range(turns):
            large.append(float(wrk("changes", url, [auth], wrk_seconds)[0]))
            small.append(float(wrk("changes", small_url, [reference["auth"]], wrk_seconds)[0]))
    finally:
        other.terminate()
        other.wait()
    ratio = median(large) / median(small)
    t.keep(backend, "changes_turns", ratio)
    t.row(backend, "feed: changes, in turns with the smallest N's store", "", "", "",
          "requests/s here " + " / ".join(f"{x:.0f}" for x in large) + "; smallest N "
          + " / ".join(f"{x:.0f}" for x in small), f"medians' ratio = {ratio:.2f}")


def targets(small, large):
    """The table of issue 20: each measure at the largest N, and how it moved from the
    smallest, per backend, with its target."""
    a, b = small.metrics, large.metrics
    lines = [f"### Issue 20's targets: N = {large.n:,} against N = {small.n:,}".replace(",", " "),
             "", "| measure | backend | at the small N | at the large N | figure | target |",
             "|---|---|---|---|---|---|"]

    def ratio(m, x, y):
        return m[x] / m[y] if x in m and y in m and m[y] else None

    def show(v, spec):
        return "not measured" if v is None else format(v, spec)

    for backend in b:
        ma, mb = a.get(backend, {}), b[backend]
        ra, rb = ratio(ma, "full_export", "xmllint"), ratio(mb, "full_export", "xmllint")
        rows = [
            ("full export / `xmllint --stream --schema`", show(ra, ".2f"), show(rb, ".2f"),
             show(rb, ".2f"), "≤ 0.6"),
            ("that ratio at the large N ÷ at the small N", "", "",
             show(rb / ra if ra and rb else None, ".2f"), "≤ 1.05"),
            ("1 % change / full export", show(ratio(ma, "change", "full_export"), ".1%"),
             show(ratio(mb, "change", "full_export"), ".1%"),
             show(ratio(mb, "change", "full_export"), ".1%"), "≤ 12 %"),
            ("changes endpoint requests/s, large ÷ small (each size's own run)",
             show(ma.get("changes_rps"), ".0f"), show(mb.get("changes_rps"), ".0f"),
             show(mb["changes_rps"] / ma["changes_rps"]
                  if ma.get("changes_rps") and mb.get("changes_rps") else None, ".2f"), "≥ 0.8"),
            ("changes endpoint, large ÷ small measured in turns (medians of 3)", "", "",
             show(mb.get("changes_turns"), ".2f"), "≥ 0.8"),
            ("snapshot download rate / nginx `sendfile`",
             show(ma.get("download_vs_nginx"), ".2f"), show(mb.get("download_vs_nginx"), ".2f"),
             show(mb.get("download_vs_nginx"), ".2f"), "≥ 0.9"),
            ("peak RSS of any lheo-feed command (MiB)", show(ma.get("peak_rss"), ".0f"),
             show(mb.get("peak_rss"), ".0f"), show(mb.get("peak_rss"), ".0f"),
             "≤ 300, flat in N"),
        ]
        for name, x, y, fig, target in rows:
            lines.append(f"| {name} | {backend} | {x} | {y} | {fig} | {target} |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sizes", nargs="+", type=int)
    p.add_argument("--backends", default="sqlite,postgres")
    p.add_argument("--workdir", default=str(ROOT / "bench-out"))
    p.add_argument("--skip-refs", action="store_true", help="skip the reference tools")
    p.add_argument("--full-push-max", type=int, default=100000,
                   help="largest N for which the push is measured (its first delivery is the "
                        "whole snapshot to three consumers)")
    p.add_argument("--wrk-seconds", type=int, default=10)
    a = p.parse_args()
    if not BIN.exists():
        sys.exit("build first: cargo build --release")
    # Absolute: nginx resolves a relative -c and root against its own prefix, not this
    # folder (a relative --workdir left the nginx reference unable to start).
    workdir = Path(a.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    header = f"Machine: {machine()}. Started {time.strftime('%Y-%m-%d %H:%M:%S %Z')}."
    print(header)
    tables = []
    backends = a.backends.split(",")
    smallest = min(a.sizes)
    reference = None
    try:
        for n in sorted(a.sizes):
            t, kept = bench_size(n, backends, workdir, a.skip_refs, a.full_push_max,
                                 a.wrk_seconds, keep=(n == smallest and len(a.sizes) > 1),
                                 reference=None if n == smallest else reference)
            if n == smallest:
                reference = {b: k for b, k in kept.items() if k}
            t.n = n
            tables.append(t)
            (workdir / f"results-{n}.md").write_text(header + "\n\n" + t.text())
    finally:
        for backend in reference or {}:
            drop_store(smallest, backend, workdir / f"n{smallest}")
    if len(tables) > 1:
        small, large = min(tables, key=lambda t: t.n), max(tables, key=lambda t: t.n)
        text = targets(small, large)
        print("\n" + text)
        (workdir / "targets.md").write_text(header + "\n\n" + text)


if __name__ == "__main__":
    main()
