"""``evoapproxnas report DIR --html OUT``: one self-contained page, checked in a real
headless browser (Debian's chromium, which scripts/setup.sh installs).

The run directory is a small finished campaign written the way a campaign writes it: real
genomes of tests/search/tiny.toml priced by the campaign's problem (no training: the
accuracies are made up), its archive, history and front. One front member carries layer
and multiplier names with markup in them, which the page must show as text.
"""

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from evoapproxnas.cli import main
from evoapproxnas.config import load_config
from evoapproxnas.plots.html import build_page
from evoapproxnas.search.study.records import EvaluationRecord, FrontMember
from evoapproxnas.search.study.results import history_entry, pareto_front
from evoapproxnas.search.study.rundir import RunDir, RunFront

TINY = Path(__file__).parents[1] / "search" / "tiny.toml"
HOSTILE_LAYER = "</script><script>window.__pageError('xss layer')</script>"
HOSTILE_MUL = "<img src=x onerror=\"window.__pageError('xss mul')\">"
HOSTILE_REASON = "<b onmouseover=alert(1)>skipped</b> & \u2028done"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                  "--enable-logging=stderr", "--v=0", "--window-size=1280,2400")


def make_finished_run(path: Path, per_generation: int = 6, generations: int = 2) -> RunDir:
    cfg = load_config(TINY)
    run = RunDir.create(path, cfg, (8, 8, 1), 3, str(TINY))
    problem = run.problem
    rng = np.random.default_rng(11)
    records, seen, history = [], set(), []
    for generation in range(generations):
        batch = []
        while len(batch) < per_generation:
            genome = problem.space.sample(rng)
            key = problem.space.key(genome)
            if key in seen:
                continue
            seen.add(key)
            metrics = problem.price(genome)
            failed = generation == 1 and not batch  # one candidate whose training failed
            if not failed:
                metrics["val_accuracy"] = round(0.45 + 0.5 * (1 - metrics["power_rel"]) ** 0.5
                                                * rng.random() + 0.05 * rng.random(), 4)
            record = EvaluationRecord(
                hash=key, generation=generation, index=len(batch),
                genome=[int(g) for g in genome], status="failed" if failed else "ok",
                reason="training diverged" if failed else None, violation=0.0,
                metrics=metrics, seed=int(rng.integers(1 << 30)), timings={"train_s": 1.5},
                objectives={"error": None if failed else 1 - metrics["val_accuracy"],
                            "power_rel": metrics["power_rel"], "params": metrics["params"]},
                fidelity=None if failed else cfg.training.epochs)
            run.archive.append(record)
            batch.append(record)
        records += batch
        history.append(history_entry(cfg, generation, records, batch))
    run.write_history(history)
    objectives = list(cfg.search.objectives)
    members = [FrontMember(r, test_accuracy=round(r.val_accuracy - 0.01, 4),
                           val_accuracy_reloaded=r.val_accuracy)
               for r in pareto_front(records, objectives)]
    assert len(members) >= 3, "the synthetic front is too small to test anything"
    members[0].record.metrics["multipliers"][HOSTILE_LAYER] = HOSTILE_MUL
    members[-1].test_accuracy, members[-1].test_reason = None, HOSTILE_REASON
    run.write_front(RunFront(objectives, members, len(records),
                             sum(r.status == "failed" for r in records), history))
    run.mark_finished()
    return run


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> RunDir:
    return make_finished_run(tmp_path_factory.mktemp("runs") / "tiny<run>&co")


@pytest.fixture(scope="module")
def page(run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("page") / "report.html"
    status = main(["report", str(run.path), "--html", str(out)])
    assert status == 0
    return out


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run headless chromium (a fresh profile; no network use of its own)."""
    binary = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(binary).exists():
        pytest.fail("chromium is not installed (the HTML report is tested in a real browser): "
                    "run scripts/setup.sh, which installs it as a test dependency")
    profile = tmp_path / "chromium-profile"
    return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180, check=False)


def root_attributes(dom: str) -> dict[str, str]:
    tag = re.search(r"<html\b([^>]*)>", dom)
    assert tag, dom[:2000]
    return {k: html.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', tag.group(1))}


def test_page_loads_in_a_browser_without_errors_and_draws_every_member(run, page, tmp_path):
    result = chromium(tmp_path, "--dump-dom", page.as_uri())
    dom = result.stdout
    attrs = root_attributes(dom)
    errors = re.search(r'<pre id="page-errors"[^>]*>(.*?)</pre>', dom, re.S).group(1)
    assert attrs.get("data-errors") == "0", html.unescape(errors)
    assert attrs.get("data-ready") == "1"
    n = len(run.front().members)
    assert attrs.get("data-front-points") == str(n)
    assert len(re.findall(r'<circle [^>]*class="member', dom)) == n
    history = run.history()
    assert re.search(rf'<svg id="hv"[^>]*data-points="{len(history)}"', dom)
    console = [line for line in result.stderr.splitlines()
               if "CONSOLE" in line and page.name in line]
    assert console == [], "\n".join(console)


PROBE = """<script>
(function(){var out={tips:[],pairs:{},hostile:null};
var tip=document.getElementById("tip");
document.querySelectorAll("#front circle.member").forEach(function(c){
 c.dispatchEvent(new MouseEvent("mouseenter"));
 var hover={k:c.getAttribute("data-k"),shown:!tip.hidden,text:tip.textContent};
 c.dispatchEvent(new MouseEvent("mouseleave"));var hidden=tip.hidden;
 c.dispatchEvent(new FocusEvent("focus"));
 out.tips.push({k:hover.k,hover:hover,hidden_after:hidden,focus:tip.textContent});});
var xs=document.getElementById("xaxis"),ys=document.getElementById("yaxis");
var keys=JSON.parse(document.getElementById("run-data").textContent).axes.map(
 function(a){return a.key;});
[["params","error"],["power_mw","val_accuracy"],["power_rel","test_accuracy"]].forEach(
 function(p){xs.value=String(keys.indexOf(p[0]));ys.value=String(keys.indexOf(p[1]));
 xs.dispatchEvent(new Event("change"));
 out.pairs[p.join("/")]=document.querySelectorAll("#front circle.member").length;});
out.keys=keys;out.imgs=document.querySelectorAll("img").length;
out.scripts=document.scripts.length;
out.selected=document.getElementById("selected").textContent;
out.nets=document.querySelectorAll("#selected svg.net rect").length;
var pre=document.createElement("pre");pre.id="probe";pre.textContent=JSON.stringify(out);
document.body.appendChild(pre);})();
</script>"""


def test_hovering_or_focusing_a_point_shows_that_member(run, page, tmp_path):
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                      encoding="utf-8")
    result = chromium(tmp_path, "--dump-dom", probed.as_uri())
    attrs = root_attributes(result.stdout)
    assert attrs.get("data-errors") == "0", result.stdout[-3000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert found, result.stdout[-3000:]
    out = json.loads(html.unescape(found.group(1)))
    members = run.front().members
    assert [int(t["k"]) for t in out["tips"]] == list(range(len(members)))
    for tip, member in zip(out["tips"], members):
        r = member.record
        assert tip["hover"]["shown"] and tip["hidden_after"]
        assert tip["focus"] == tip["hover"]["text"]
        text = tip["focus"]
        assert r.hash in text
        assert f"validation accuracy{r.val_accuracy:.4f}" in text
        test = "-" if member.test_accuracy is None else f"{member.test_accuracy:.4f}"
        assert f"test accuracy{test}" in text
        assert f"{r.metrics['power_rel']:.4f} x exact, {r.metrics['power_mw']:.2f} mW" in text
        assert f"parameters{r.metrics['params']:,}" in text
        for layer, name in r.metrics["multipliers"].items():
            assert f"{layer}{name}" in text
    assert HOSTILE_LAYER + HOSTILE_MUL in out["tips"][0]["focus"]  # shown as text
    assert HOSTILE_REASON in out["tips"][-1]["focus"]
    n = len(members)
    assert out["pairs"] == {"params/error": n, "power_mw/val_accuracy": n,
                            "power_rel/test_accuracy": n - 1}  # one has no test accuracy
    assert out["imgs"] == 0 and out["scripts"] == 4  # nothing injected by the run's strings
    assert members[0].record.hash in out["selected"] and out["nets"] >= 3


def test_the_page_is_self_contained_and_escapes_the_run_strings(run):
    page = build_page(run)
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"<(script|img|iframe|embed|object|audio|video|source)\b[^>]*\bsrc=",
                         page, re.I)
    assert not re.search(r"<link\b|@import|url\(|<base\b", page, re.I)
    assert "default-src 'none'" in page  # the browser refuses any fetch the page might try
    for hostile in (HOSTILE_LAYER, HOSTILE_MUL, HOSTILE_REASON, "tiny<run>"):
        assert hostile not in page
    assert page.count("<script") == 3 and page.count("</script>") == 3
    assert html.escape(HOSTILE_REASON, quote=True) in page  # the table cell's title
    assert "tiny&lt;run&gt;&amp;co" in page


def test_report_prints_the_table_and_writes_the_page(run, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(run.path), "--html", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Pareto front: ")
    assert f"HTML report written to {out}" in captured.err
    assert out.read_text(encoding="utf-8") == build_page(run)
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temporary file left


def test_an_unfinished_run_gets_a_page_too(run, tmp_path):
    copy = Path(shutil.copytree(run.path, tmp_path / "unfinished"))
    (copy / "front.json").unlink()
    page = build_page(RunDir(copy))
    assert "run not finished: no test-set accuracy yet" in page


def one_line_error(capsys, *argv) -> str:
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("evoapproxnas: error: ") and "\n" not in err
    return err


def test_bad_html_targets_are_one_line_errors_and_run_files_are_never_touched(
        run, tmp_path, capsys):
    before = {p.name: p.read_bytes() for p in run.path.iterdir() if p.is_file()}
    for name in ("front.json", "archive.jsonl", "config.json", "run.json"):
        err = one_line_error(capsys, "report", run.path, "--html", run.path / name)
        assert "run directory's own files" in err
    link = tmp_path / "link.html"
    link.symlink_to(run.path / "front.json")
    assert "own files" in one_line_error(capsys, "report", run.path, "--html", link)
    assert "must end with .html" in one_line_error(capsys, "report", run.path, "--html",
                                                   tmp_path / "page.txt")
    (tmp_path / "d.html").mkdir()
    assert "is a directory" in one_line_error(capsys, "report", run.path, "--html",
                                              tmp_path / "d.html")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    err = one_line_error(capsys, "report", run.path, "--html", blocker / "page.html")
    assert f"cannot write {blocker / 'page.html'}" in err
    err = one_line_error(capsys, "report", run.path, "--html", tmp_path / "no" / "p.html")
    assert "cannot write" in err
    assert {p.name: p.read_bytes() for p in run.path.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.html", "file", "link.html"]
