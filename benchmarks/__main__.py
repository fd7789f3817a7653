"""Speed of the translator, from the attention kernel to the page in a browser, measured on this machine.

    python -m benchmarks                                   # every section on assets/en-de: several minutes
    python -m benchmarks --quick                           # every section, small sizes: about a minute
    python -m benchmarks --only latency,bmm --sentences 50

Prints the tables and writes results.md and results.json (into benchmarks/), each table under a line on what
it measures and how. Sections (latency also gives the hardware floor):
"""

import argparse
import contextlib
import datetime
import json
import os
import platform
import shlex
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

from benchmarks import report
from benchmarks.decoding_speed import beam_section, bmm_section, floor_section, latency_section
from benchmarks.measure import ROOT, cpu_translator
from benchmarks.served import Server, browser_section, costly_text, fairness_section, load_section, served_section
from benchmarks.site import site_section
from benchmarks.training_speed import DEFAULT_DATA_DIR, training_section

SECTIONS = "latency bmm beam served load fairness browser site training".split()
PACKAGES = "numpy onnxruntime torch tokenizers gradio gradio_client playwright".split()


def _sections(text: str) -> tuple[str, ...]:
    if unknown := [n for n in text.split(",") if n not in SECTIONS]:
        raise argparse.ArgumentTypeError(f"unknown section {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    return tuple(text.split(","))


ints = lambda text: tuple(int(x) for x in text.split(",") if x.strip())
# Sizes: flag -> (type, full run, --quick, help); the full or quick value is used when the flag is not given.
SIZES = {
    "sentences": (int, 100, 6, "latency: test sentences per cell"),
    "budget": (float, 240.0, 30.0, "latency: seconds for all its cells, at most"),
    "threads": (ints, "1,2", "1,2", "latency: onnxruntime/torch thread counts"),
    "batch_sizes": (ints, "1,8,32,128", "1,8", "bmm: batch sizes B"),
    "rounds": (int, 7, 3, "bmm and site: rounds of the methods taking turns"),
    "beam_sentences": (int, 128, 8, "beam: the first N test sentences"),
    "cold_starts": (int, 2, 1, "served: cold starts per server (the best is reported)"),
    "seconds": (float, 8.0, 1.5, "served, load and site: seconds per load run"),
    "clients": (ints, "8,64", "8,64", "load: client counts"),
    "costly": (ints, "0,8,40", "0,8", "fairness: costly client counts, one run each"),
    "page_loads": (int, 5, 1, "browser and site: fresh pages (site: cold loads), one first translation each"),
    "translations": (int, 10, 2, "browser: later translations on one page, step switches after each"),
    "site_sentences": (int, 20, 3, "site: sentences timed warm in the browser and natively, greedy and beam 5"),
    "train_steps": (int, 20, 3, "training: measured steps"),
}


def build_parser() -> argparse.ArgumentParser:
    sections = "".join(f"\n  {name:9} {report.SECTIONS[name].split(':')[0]}" for name in SECTIONS)
    raw = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser("python -m benchmarks", description=__doc__ + sections, formatter_class=raw)
    add = p.add_argument
    add("--bundle", default=str(ROOT / "assets" / "en-de"), help="bundle folder (default: %(default)s)")
    add("--only", type=_sections, default=",".join(SECTIONS), help="comma-separated sections (default: %(default)s)")
    add("--quick", action="store_true", help="small sizes everywhere: a check that every section runs")
    data = "folder with test.jsonl (Multi30k test2016), its column named like the bundle's source language; missing:"
    add("--data-dir", default=str(DEFAULT_DATA_DIR), help=f"{data} our example sentences (default: %(default)s)")
    for name, (kind, full, quick, text) in SIZES.items():
        default = full if full == quick else f"{full}; with --quick: {quick}"
        add("--" + name.replace("_", "-"), type=kind, help=f"{text} (default: {default})")
    where = "latency: where the other-precision bundle is exported and kept for next time"
    add("--work-dir", help=f"{where} (default: a temporary folder, removed)")
    add(
        "--out-dir",
        default=str(ROOT / "benchmarks"),
        help="where results.md and results.json go (default: %(default)s)",
    )
    return p


def read_sentences(bundle: Path, src: str, data_dir: str, count: int) -> tuple[list[str], str, int]:
    """The first `count` sentences of data_dir/test.jsonl's `src` column (else our example sentences) that the
    bundle accepts (too long or unknown characters: left out), where they came from, their median length."""
    path = Path(data_dir or "") / "test.jsonl"
    if data_dir and path.is_file():
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if any(src not in row for row in rows):
            schema = "pass --data-dir with a test.jsonl in that schema"
            raise RuntimeError(f"{path} has lines without a '{src}' field (the bundle's source language); {schema}")
        sources, origin = [row[src] for row in rows], str(path)
    else:
        from inference.examples import examples_for

        sources, origin = list(examples_for(src)), "inference/examples.py"
    checked = cpu_translator(bundle).check_sources(sources)
    accepted = [(text, ids) for text, ids in zip(sources, checked) if isinstance(ids, list)][:count]
    if len(accepted) < 2:
        column = f"test.jsonl whose '{src}' column holds sentences in the bundle's source language"
        raise RuntimeError(f"{origin} has fewer than 2 sentences this bundle accepts; pass --data-dir with a {column}")
    return [text for text, _ in accepted], origin, int(np.median([len(ids) for _, ids in accepted]))


def describe(argv, bundle: Path, manifest: dict) -> dict:
    """What a results table must carry to be read later: the command, date, machine, versions and bundle."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    machine = dict(cpu=cpu, usable_cpus=len(os.sched_getaffinity(0)), python=platform.python_version())
    versions = {}
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    command = shlex.join(["python", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)])
    date, pair, shown = datetime.datetime.now().astimezone().isoformat(timespec="seconds"), manifest["pair"], bundle
    if bundle.resolve().is_relative_to(ROOT):  # then shown from the root, where the results files are read
        shown = bundle.resolve().relative_to(ROOT)
    meta = dict(command=command, date=date, machine=machine | dict(os=platform.platform(), load_average=load()))
    meta |= dict(versions=versions, bundle=str(shown), pair=f"{pair['src']}-{pair['tgt']}")
    return meta | dict(precision=manifest.get("precision"), model_config=manifest["model_config"])


def run_sections(args, bundle: Path, sentences: list[str], results: dict, save) -> None:
    """Each asked-for section in turn, its results saved as soon as it is done."""
    meta, wanted, app = results["meta"], set(args.only), None

    def run(name, measure):
        if name in wanted:
            results[name] = measure()
            save()

    if "latency" in wanted:
        block, texts = max(1, min(10, args.sentences // 3)), sentences[: args.sentences]
        results["latency"] = latency_section(
            bundle, args.work_dir, texts, args.threads, block=block, budget_s=args.budget
        )
        results["floor"] = floor_section(meta["model_config"], results["latency"].pop("raw"), args.threads)
        save()
    two_h, src_len = 2 * meta["model_config"]["hidden_dim"], meta["median_source_tokens"]
    run("bmm", lambda: bmm_section(two_h, src_len, args.batch_sizes, args.rounds))
    run("beam", lambda: beam_section(bundle, sentences[: args.beam_sentences]))
    try:
        if "served" in wanted:
            results["served"], app = served_section(bundle, meta["pair"], sentences, 8, args.seconds, args.cold_starts)
            save()
        if wanted & {"load", "fairness", "browser"}:
            app = app or Server(sentences[0], bundle, meta["pair"])
        run("load", lambda: load_section(app, sentences, args.clients, args.seconds))
        run("fairness", lambda: fairness_section(app, costly_text(cpu_translator(bundle)), args.costly, args.seconds))
        switches = 1 if args.quick else 3
        run("browser", lambda: browser_section(app.url, sentences, args.page_loads, args.translations, switches))
    finally:
        if app is not None:
            app.stop()
    app_rate, texts = report.value(results, "served", "answers_per_s", server="app"), sentences[: args.site_sentences]
    run("site", lambda: site_section(bundle, texts, args.page_loads, args.rounds, args.seconds, app_rate))
    run("training", lambda: training_section(bundle, args.data_dir, args.train_steps))


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    for name, (kind, full, quick, _) in SIZES.items():
        if getattr(args, name) is None:
            setattr(args, name, kind(quick if args.quick else full))
    bundle, out_dir = Path(args.bundle), Path(args.out_dir)
    try:
        manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        export = f"export one with `python -m export CHECKPOINT --out {bundle}`"
        return _error(f"{bundle} is not a bundle folder ({error}); {export}")
    wanted = max(args.sentences, args.beam_sentences, 2 * args.page_loads + args.translations + 1, 50)
    try:
        sentences, origin, src_len = read_sentences(bundle, manifest["pair"]["src"], args.data_dir, wanted)
    except (RuntimeError, ValueError) as error:
        return _error(error)
    chosen = dict(sentences=f"the first {len(sentences)} accepted from {origin}", median_source_tokens=src_len)
    results = {"meta": describe(argv, bundle, manifest) | chosen}
    out_dir.mkdir(parents=True, exist_ok=True)

    def save() -> None:  # each file written whole, then moved into place
        results["meta"]["load_average_end"] = load()
        files = {"results.json": json.dumps(results, indent=1) + "\n", "results.md": report.render_markdown(results)}
        for name, text in files.items():
            (out_dir / f".{name}.partial").write_text(text, encoding="utf-8")
            os.replace(out_dir / f".{name}.partial", out_dir / name)

    try:
        run_sections(args, bundle, sentences, results, save)
    except (FileNotFoundError, RuntimeError) as error:
        save()
        return _error(error)
    save()
    print(report.render_markdown(results) + f"\nwrote {out_dir / 'results.md'} and {out_dir / 'results.json'}")
    return 0


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _error(message) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
