"""sagemaker_mnist.model and sagemaker_mnist.recipe: the net's shape and on-disk round trip, and every recipe choice
constructs while an unknown one fails with a ValueError that names what is accepted."""
import json
import types

import pytest
import torch

from sagemaker_mnist import hyperparameters, model, recipe

pytestmark = pytest.mark.unit


def _hp(preset="default", **overrides):
    values = dict(recipe.PRESETS[preset], preset=preset, seed=0, eval_batch_size=1000, amp="auto")
    values.update(overrides)
    return types.SimpleNamespace(**values)


@pytest.mark.parametrize("preset", sorted(recipe.PRESETS))
def test_presets_name_only_hyperparameters_the_trainer_accepts(preset):
    assert set(recipe.PRESETS[preset]) <= set(hyperparameters.hyperparameter_names())


@pytest.mark.parametrize("width", [1, 12, 16, 32])
def test_net_maps_a_batch_of_digits_to_ten_logits(width):
    net = model.build_model({"width": width}).eval()
    with torch.no_grad():
        logits = net(torch.rand(5, 1, 28, 28))
    assert logits.shape == (5, 10)
    assert logits.dtype == torch.float32
    assert torch.isfinite(logits).all()


def test_save_then_load_gives_the_same_net(tmp_path):
    torch.manual_seed(0)
    config = {"width": 8}
    net = model.build_model(config)
    # A few training steps so BatchNorm's running statistics differ from their initial values.
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        net(torch.rand(16, 1, 28, 28)).sum().backward()
        optimizer.step()
    net.eval()
    model.save(net, config, tmp_path)

    assert sorted(p.name for p in tmp_path.iterdir()) == [model.CONFIG_FILE, model.WEIGHTS_FILE]
    assert json.loads((tmp_path / model.CONFIG_FILE).read_text()) == config
    loaded = model.load(tmp_path)
    assert not loaded.training
    for (name, a), (name_b, b) in zip(net.state_dict().items(), loaded.state_dict().items()):
        assert name == name_b
        assert torch.equal(a, b), name
    x = torch.rand(7, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(net(x), loaded(x))


OPTIMIZER_CLASSES = {"sgd": torch.optim.SGD, "adamw": torch.optim.AdamW, "adadelta": torch.optim.Adadelta}


@pytest.mark.parametrize("name", recipe.OPTIMIZERS)
def test_each_optimizer_is_the_one_named_over_every_parameter_and_its_step_lowers_the_loss(name):
    torch.manual_seed(0)
    net = model.build_model({"width": 4})
    hp = _hp(optimizer=name, lr=0.01)
    optimizer = recipe.make_optimizer(net, hp)
    assert type(optimizer) is OPTIMIZER_CLASSES[name]
    (group,) = optimizer.param_groups
    assert group["lr"] == hp.lr and group["weight_decay"] == hp.weight_decay
    assert [id(p) for p in group["params"]] == [id(p) for p in net.parameters()]
    x, y = torch.rand(32, 1, 28, 28), torch.randint(0, 10, (32,))
    before = [p.detach().clone() for p in net.parameters()]
    loss = torch.nn.functional.cross_entropy(net(x), y)
    loss.backward()
    optimizer.step()
    assert all(not torch.equal(a, p) for a, p in zip(before, net.parameters()) if p.grad is not None)
    with torch.no_grad():
        assert torch.nn.functional.cross_entropy(net(x), y) < loss


@pytest.mark.parametrize("name", recipe.SCHEDULERS)
def test_each_scheduler_constructs_and_steps_through_the_run(name):
    hp = _hp(scheduler=name, epochs=2, lr=0.1)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=hp.lr)
    scheduler = recipe.make_scheduler(optimizer, hp, steps_per_epoch=5)
    if name == "none":
        assert scheduler is None
        return
    rates = []
    for _ in range(10):
        optimizer.step()
        scheduler.step()
        rates.append(optimizer.param_groups[0]["lr"])
    assert all(0 <= r <= hp.lr * 1.0001 for r in rates)
    assert rates[-1] < hp.lr


@pytest.mark.parametrize("name", recipe.AUGMENTATIONS)
def test_each_augmentation_keeps_shape_range_and_is_seeded(name):
    images = torch.rand(6, 1, 28, 28)
    hp = _hp(augmentation=name)
    a = recipe.augment(images, hp, torch.Generator().manual_seed(1))
    b = recipe.augment(images, hp, torch.Generator().manual_seed(1))
    assert a.shape == images.shape
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b)


def test_loss_uses_label_smoothing():
    logits = torch.tensor([[10.0, 0.0] + [0.0] * 8])
    target = torch.tensor([0])
    plain = recipe.make_loss(_hp(label_smoothing=0.0))(logits, target)
    smoothed = recipe.make_loss(_hp(label_smoothing=0.1))(logits, target)
    assert smoothed > plain


@pytest.mark.parametrize("make, field", [
    (lambda hp: recipe.make_optimizer(model.build_model({"width": 4}), hp), "optimizer"),
    (lambda hp: recipe.make_scheduler(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), hp, 10),
     "scheduler"),
    (lambda hp: recipe.augment(torch.rand(2, 1, 28, 28), hp, torch.Generator()), "augmentation"),
])
def test_an_unknown_choice_raises_a_value_error_naming_the_accepted_ones(make, field):
    with pytest.raises(ValueError, match="%s must be one of .*not 'bogus'" % field):
        make(_hp(**{field: "bogus"}))
