import pytest

from scaler.cost import BASE_S, MB, PRIOR_S_PER_MB, CostModel, PendingGroup


def test_priors_rank_heavy_encoders_above_cheap_ones():
    model = CostModel()
    avif = model.estimate([PendingGroup("avif", 4, 4 * 5 * MB)])
    jpeg = model.estimate([PendingGroup("jpeg", 4, 4 * 5 * MB)])
    assert avif == pytest.approx(4 * BASE_S + 20 * PRIOR_S_PER_MB["avif"])
    assert avif > 10 * jpeg


def test_learns_the_measured_rate():
    model = CostModel(alpha=0.5)
    for _ in range(20):
        model.observe("webp", 2 * MB, BASE_S + 3.0)   # 1.5 s per MB
    assert model.rate("webp") == pytest.approx(1.5, rel=1e-3)
    assert model.to_dict()["webp"]["samples"] == 20
    assert model.rate("jpeg") == PRIOR_S_PER_MB["jpeg"]  # others unchanged


def test_tiny_inputs_do_not_explode_the_rate():
    model = CostModel(alpha=1.0)
    model.observe("png", 10, 0.05)  # 10 bytes in 50 ms
    assert model.rate("png") < 1.0


@pytest.mark.parametrize("fmt,bytes_,seconds", [("", MB, 1.0), ("png", MB, None), ("png", MB, -1)])
def test_ignores_unusable_samples(fmt, bytes_, seconds):
    model = CostModel()
    model.observe(fmt, bytes_, seconds)
    assert model.samples == {}


def test_empty_backlog_costs_nothing_and_groups_parse():
    assert CostModel().estimate([]) == 0
    group = PendingGroup.from_dict({"output_format": "avif", "count": "3", "input_bytes": 10})
    assert group == PendingGroup("avif", 3, 10)
