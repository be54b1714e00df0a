"""Successive halving: who continues, what the archive and the front hold, and the same
decisions after a run is stopped at any point and resumed (no training: a stand-in pool)."""

from pathlib import Path

import pytest

from evoapproxnas.search.campaign import create_run, run_campaign
from evoapproxnas.search.policies.halving import n_promoted, promote
from evoapproxnas.search.reporting import ConsoleReporter, SilentReporter
from evoapproxnas.search.study.archive import read_records
from evoapproxnas.search.study.records import EvaluationRecord
from evoapproxnas.search.tasks import TrainOutcome

TINY = Path(__file__).parents[1] / "tiny.toml"
SH = ["training.epochs=3", "training.table_epochs=1", "fidelity.rungs=[1]", "fidelity.eta=2",
      "search.population=6", "search.generations=3"]
INHERIT = [*SH, "fidelity.inherit_epochs=1", "cgp.uniform_multiplier_rate=0.9",
           "search.generations=4"]
REPRICE = [*SH, "fidelity.inherit_epochs=1", "cgp.uniform_multiplier_rate=0.5",
           "search.generations=4", "fidelity.final_repricing=2"]


class Stop(Exception):
    pass


class RungWorkers:
    """Trains in no time: accuracy grows with the epochs by a hash-dependent amount, so a
    rung's ranking is not the next rung's. Raises ``Stop`` (a killed run) after
    ``stop_after`` results."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.stop_after, self.done, self.epochs = stop_after, 0, []
        self.continued, self.inherited, self.heir_epochs = [], [], []

    def map(self, fn, payloads, timeout_s=None, on_result=None):
        results = []
        for i, payload in enumerate(payloads):
            if self.stop_after is not None and self.done >= self.stop_after:
                raise Stop
            h = int(payload.hash[:6], 16)
            acc = 0.3 + 0.4 * (h % 997) / 997 + 0.1 * payload.epochs * ((h >> 8) % 7) / 7
            results.append(TrainOutcome(status="ok", reason=None, val_accuracy=acc,
                            val_accuracy_exact=acc, train_seconds=0.0,
                            eval_seconds=0.0))
            self.done += 1
            self.epochs.append(payload.epochs)
            self.continued.append(payload.continue_from)
            self.inherited.append(payload.inherit_from)
            if payload.inherit_from:
                assert payload.continue_from is None
                self.heir_epochs.append((payload.hash, payload.inherit_epochs))
            if on_result:
                on_result(i, results[-1])
        return results


def record(i: int, error: float, power: float) -> EvaluationRecord:
    return EvaluationRecord(hash=f"h{i}", generation=0, index=i, genome=[], status="ok",
                            reason=None, violation=0.0, metrics={}, seed=0,
                            objectives={"error": error, "power_rel": power})


def test_promote_takes_the_first_fronts_then_the_most_isolated():
    # first front 0, 1, 2 (0 and 2 its extremes), second front 3, then 4
    pool = [record(0, 0.1, 0.9), record(1, 0.5, 0.5), record(2, 0.9, 0.1),
            record(3, 0.6, 0.6), record(4, 0.95, 0.95)]
    objectives = ["error", "power_rel"]
    assert [r.hash for r in promote(pool, objectives, 2)] == ["h0", "h2"]  # the extremes
    assert [r.hash for r in promote(pool, objectives, 3)] == ["h0", "h1", "h2"]
    assert [r.hash for r in promote(pool, objectives, 4)] == ["h0", "h1", "h2", "h3"]
    assert promote(pool, objectives, 9) == pool
    # a front of extremes only (all at infinite crowding): the more accurate first, not the
    # earlier in the population
    pool = [record(0, 0.8, 0.1), record(1, 0.2, 0.9), record(2, 0.9, 0.95)]
    assert [r.hash for r in promote(pool, objectives, 1)] == ["h1"]
    assert [r.hash for r in promote(pool, ["power_rel"], 1)] == ["h0"]  # no error: by power
    # below the accuracy floor (a violation): after every other, the smallest shortfall first
    pool[1].violation, pool[2].violation = 0.5, 0.1
    assert [r.hash for r in promote(pool, objectives, 1)] == ["h0"]
    assert [r.hash for r in promote(pool, objectives, 2)] == ["h0", "h2"]
    assert n_promoted(5, 3) == 2 and n_promoted(6, 3) == 2 and n_promoted(0, 3) == 0
    # rounded up to keep every worker busy, never more than the rung has
    assert n_promoted(7, 3, workers=2) == 4 and n_promoted(6, 3, workers=2) == 2
    assert n_promoted(1, 3, workers=2) == 1 and n_promoted(8, 3, workers=4) == 4


def test_rungs_archive_fidelities_and_the_front_is_full_fidelity(tmp_path):
    run = create_run(TINY, tmp_path / "run", SH)
    workers = RungWorkers()
    # not quiet: the bars (disabled off a terminal) and lines of every rung are exercised
    front = run_campaign(run.path, reporter=ConsoleReporter(), evaluate_test=False, pool=workers)
    records = read_records(run.path / "archive.jsonl")
    for gen in range(3):
        low = [r for r in records if r.generation == gen and r.fidelity == 1]
        high = [r for r in records if r.generation == gen and r.fidelity == 3]
        ok = [r for r in low if r.status == "ok"]
        assert len(high) == n_promoted(len(ok), 2, workers=2) and {r.hash for r in high} <= {
            r.hash for r in ok}
        # the promoted ones are the first-ranked of the rung
        kept = promote(ok, ["error", "power_rel", "params"], len(high))
        assert {r.hash for r in kept} == {r.hash for r in high}
    assert sorted(set(workers.epochs)) == [1, 3]
    # the first rung trains from scratch; the full budget continues from the 1-epoch rung
    assert {(e, c) for e, c in zip(workers.epochs, workers.continued)} == {(1, None), (3, 1)}
    assert front.members and all(m.record.fidelity == 3 for m in front.members)
    assert all(h.front_size >= 1 for h in run.history())


def test_an_accuracy_floor_makes_trained_candidates_below_it_infeasible(tmp_path):
    floor = 0.55
    run = create_run(TINY, tmp_path / "run", [*SH, f"search.min_accuracy={floor}"])
    front = run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False,
                         pool=RungWorkers())
    records = [r for r in read_records(run.path / "archive.jsonl") if r.status == "ok"]
    below = [r for r in records if r.val_accuracy < floor]
    assert below and len(below) < len(records), "the floor must split the candidates"
    for r in records:
        expected = (floor - r.val_accuracy) / floor if r.val_accuracy < floor else 0.0
        assert r.violation == pytest.approx(expected)
        assert ("below search.min_accuracy" in (r.reason or "")) == (r.val_accuracy < floor)
    assert front.members and all(m.record.val_accuracy >= floor for m in front.members)
    for gen in range(3):  # a rung promotes those below the floor only when it must
        low = [r for r in records if r.generation == gen and r.fidelity == 1]
        high = {r.hash for r in records if r.generation == gen and r.fidelity == 3}
        meets = {r.hash for r in low if r.violation == 0}
        assert high <= meets or meets <= high
    for entry in run.history():  # the generation line counts the population below the floor
        final = {}
        for r in records:
            if r.generation <= entry.generation:
                final[r.hash] = max(final.get(r.hash, r), r, key=lambda x: x.fidelity)
        expected = sum(final[h].val_accuracy < floor for h in entry.population if h in final)
        assert entry.below_floor == expected
    assert sum(entry.below_floor for entry in run.history()) >= 1


def test_rungs_must_increase_below_the_epochs(tmp_path):
    from evoapproxnas.errors import UserError

    for bad in ("fidelity.rungs=[3]", "fidelity.rungs=[2, 1]", "fidelity.rungs=[0]"):
        with pytest.raises(UserError, match="fidelity.rungs"):
            create_run(TINY, tmp_path / "bad", ["training.epochs=3", bad])
    assert not (tmp_path / "bad").exists()


def test_re_priced_candidates_inherit_the_best_full_budget_weights(tmp_path):
    run = create_run(TINY, tmp_path / "run", INHERIT)
    workers = RungWorkers()
    run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False, pool=workers)
    records = read_records(run.path / "archive.jsonl")
    space = run.problem.space
    heirs = [r for r in records if r.inherited_from is not None]
    assert heirs, "no candidate re-used a trained network: the test needs another seed"
    by_hash = {r.hash: r for r in records if r.fidelity == 3}
    for heir in heirs:
        donor = by_hash[heir.inherited_from]
        # the same network under other multipliers, trained at the full budget earlier
        assert space.network_key(heir.genome) == space.network_key(donor.genome)
        assert heir.hash != donor.hash and donor.generation < heir.generation
        assert heir.fidelity == 3 and donor.status == "ok"
        rivals = [r for r in by_hash.values() if r.generation < heir.generation
                  and r.status == "ok"
                  and space.network_key(r.genome) == space.network_key(heir.genome)]
        best = max(r.metrics["val_accuracy_exact"] for r in rivals)
        assert donor.metrics["val_accuracy_exact"] == best
        # it skipped the rungs: no 1-epoch record of it
        assert not [r for r in records if r.hash == heir.hash and r.fidelity == 1]
    # the payloads: 1 epoch from the donor, nothing else continued or inherited
    assert workers.inherited.count(None) == len(workers.inherited) - len(heirs)
    assert sorted(workers.heir_epochs) == sorted((r.hash, 1) for r in heirs)
    # a candidate of a network never trained at the full budget trains from scratch
    first_gen = [r for r in records if r.generation == 0 and r.fidelity is not None]
    assert all(r.inherited_from is None for r in first_gen)


def test_inherit_epochs_and_final_repricing_must_make_sense(tmp_path):
    from evoapproxnas.errors import UserError

    for bad in ("fidelity.inherit_epochs=4", "fidelity.inherit_epochs=-1",
                "fidelity.inherit_epochs=true", "fidelity.final_repricing=-1",
                "fidelity.final_repricing=1.5", "fidelity.final_repricing_epochs=4",
                "fidelity.final_repricing_epochs=-1", "search.min_accuracy=1.0",
                "search.min_accuracy=-0.1", "search.min_accuracy='high'"):
        with pytest.raises(UserError, match=bad.split("=")[0]):
            create_run(TINY, tmp_path / "bad", ["training.epochs=3", bad])
    with pytest.raises(UserError, match="final_repricing_epochs = 2 .*inherit_epochs > 0"):
        create_run(TINY, tmp_path / "bad", ["training.epochs=3", "fidelity.final_repricing=1",
                                           "fidelity.final_repricing_epochs=2"])
    assert not (tmp_path / "bad").exists()


def test_final_repricing_epochs_set_the_fine_tuning_of_the_last_batch_only(tmp_path):
    run = create_run(TINY, tmp_path / "run", [*REPRICE, "fidelity.final_repricing_epochs=2"])
    workers = RungWorkers()
    run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False, pool=workers)
    by_hash = {r.hash: r for r in read_records(run.path / "archive.jsonl")
               if r.inherited_from is not None}
    epochs = {by_hash[h].generation: set() for h, _ in workers.heir_epochs}
    for h, n in workers.heir_epochs:
        epochs[by_hash[h].generation].add(n)
    assert epochs.pop(4) == {2}  # the final re-pricing: 2 epochs from the network's weights
    assert epochs and set().union(*epochs.values()) == {1}  # heirs of the search: 1


def test_the_final_repricing_prices_the_best_networks_with_every_multiplier(tmp_path):
    from evoapproxnas.search.campaign import repricing_genomes

    run = create_run(TINY, tmp_path / "run", REPRICE)
    run_campaign(run.path, reporter=SilentReporter(), evaluate_test=False, pool=RungWorkers())
    records = read_records(run.path / "archive.jsonl")
    space, spec = run.problem.space, run.problem.space.spec
    searched = [r for r in records if r.generation < 4]
    last = [r for r in records if r.generation == 4]
    assert last and all(r.inherited_from is not None for r in last if r.fidelity is not None)
    # the two most accurate full-budget networks of the search, every multiplier on each
    full = [r for r in searched if r.fidelity == 3 and r.status == "ok"]
    ranked = sorted(full, key=lambda r: -r.val_accuracy)
    networks = []
    for r in ranked:
        if space.network_key(r.genome) not in networks:
            networks.append(space.network_key(r.genome))
    genomes = repricing_genomes(run.config, run.problem, searched)
    assert len(genomes) == 2 * spec.n_multipliers
    assert [space.network_key(g) for g in genomes] == (
        [networks[0]] * spec.n_multipliers + [networks[1]] * spec.n_multipliers)
    evaluated = {r.hash for r in records}
    assert {space.key(g) for g in genomes} <= evaluated  # all evaluated, new or cached
    assert {r.hash for r in last} == {space.key(g) for g in genomes} - {
        r.hash for r in searched}
    assert len(run.history()) == 5 and run.history()[-1].generation == 4


def archived(run) -> list[tuple]:
    return [(r.hash, r.generation, r.fidelity, r.status, r.inherited_from, r.objectives)
            for r in read_records(run.path / "archive.jsonl")]


# (campaign, trainings before the kill (negative: counted back from the end), the newest
# generation archived at the kill): successive halving at several points, weight
# inheritance, and a kill inside the final re-pricing batch (generation 4)
STOPS = [(SH, 1, None), (SH, 4, None), (SH, 7, None), (SH, 11, None), (INHERIT, 5, None),
         (INHERIT, 13, None), (REPRICE, -2, 4), ([*SH, "search.min_accuracy=0.55"], 6, None)]


@pytest.mark.parametrize("overrides, stop_after, stopped_in", STOPS,
                         ids=["sh-1", "sh-4", "sh-7", "sh-11", "inherit-5", "inherit-13",
                              "repricing", "floor-6"])
def test_a_stopped_run_resumes_to_the_same_archive_and_front(tmp_path, overrides, stop_after,
                                                             stopped_in):
    whole = create_run(TINY, tmp_path / "whole", overrides)
    everything = RungWorkers()
    run_campaign(whole.path, reporter=SilentReporter(), evaluate_test=False, pool=everything)
    if stop_after < 0:
        stop_after += everything.done
    parted = create_run(TINY, tmp_path / "parted", overrides)
    with pytest.raises(Stop):
        run_campaign(parted.path, reporter=SilentReporter(), evaluate_test=False,
                     pool=RungWorkers(stop_after))
    at_stop = read_records(parted.path / "archive.jsonl")
    journal = parted.path / "trained.jsonl"  # trained, waiting for their batch's archive
    waiting = read_records(journal) if journal.exists() else []
    if stopped_in is not None:
        assert max(r.generation for r in at_stop) == stopped_in
    resumed = RungWorkers()
    run_campaign(parted.path, reporter=SilentReporter(), evaluate_test=False, pool=resumed)
    assert archived(parted) == archived(whole)
    # nothing archived or journaled is trained again
    kept = {(r.hash, r.fidelity) for r in at_stop + waiting if r.fidelity is not None}
    assert resumed.done == everything.done - len(kept)
    front = [m.record.hash for m in parted.front().members]
    assert front == [m.record.hash for m in whole.front().members]
