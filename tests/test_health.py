"""The live advice on the loss curve: plateau -> lower lr, val rising while train falls -> overfitting."""

from gpt.health import PLATEAU_EVALUATIONS, HealthMonitor


def feed(monitor, curve):
    advice = []
    for step, (train_loss, val_loss) in enumerate(curve, start=1):
        advice += monitor.check(step * 100, train_loss, val_loss, "checkpoints/best.pt")
    return advice


def test_a_falling_curve_gets_no_advice():
    assert feed(HealthMonitor(lr=1e-3), [(5 - i * 0.3, 5.1 - i * 0.3) for i in range(10)]) == []


def test_a_plateau_suggests_a_lower_learning_rate_once():
    curve = [(4.0, 4.0), (3.0, 3.0)] + [(2.99, 2.995)] * (PLATEAU_EVALUATIONS + 3)
    advice = feed(HealthMonitor(lr=3e-3), curve)
    assert [a.kind for a in advice] == ["plateau"]
    assert advice[0].step == (2 + PLATEAU_EVALUATIONS) * 100
    assert "lower learning rate" in advice[0].message and "1.0e-03" in advice[0].message
    assert advice[0].values["suggested_lr"] == 1e-3


def test_val_rising_while_train_falls_warns_about_overfitting_and_names_best_pt():
    curve = [(4.0, 4.0), (3.0, 3.1), (2.5, 2.9), (2.0, 3.0), (1.6, 3.2), (1.3, 3.4)]
    advice = feed(HealthMonitor(lr=1e-3), curve)
    assert [a.kind for a in advice] == ["overfitting"]
    assert advice[0].step == 400  # 3.0 is more than 3% above the best, 2.9
    assert "checkpoints/best.pt" in advice[0].message and "step 300" in advice[0].message


def test_val_rising_with_train_rising_is_not_overfitting():
    advice = feed(HealthMonitor(lr=1e-3), [(3.0, 3.0), (3.5, 3.5), (4.0, 4.0)])
    assert all(a.kind != "overfitting" for a in advice)


def test_advice_can_come_again_after_the_curve_recovers():
    monitor = HealthMonitor(lr=1e-3)
    first = feed(monitor, [(3.0, 3.0)] + [(2.99, 2.999)] * PLATEAU_EVALUATIONS)
    recovered = monitor.check(10_000, 2.0, 2.0, "best.pt")
    again = [monitor.check(10_000 + i, 2.0, 1.999, "best.pt") for i in range(PLATEAU_EVALUATIONS)]
    assert [a.kind for a in first] == ["plateau"] and recovered == []
    assert [a.kind for batch in again for a in batch] == ["plateau"]
