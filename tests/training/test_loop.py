"""The training loop's pieces: augmentation for ultrasound, and batches shared by processes."""

import torch
from monai.transforms import Flip, Flipd, RandAxisFlipd, RandFlipd, RandRotate90d

from training.loop import FitConfig, RandSpeckleNoised, _augmented, _global_batches, augmentation


def test_augmentation_never_flips_or_turns_the_image():
    kinds = {type(t) for t in augmentation().transforms}

    assert not kinds & {Flip, Flipd, RandFlipd, RandAxisFlipd, RandRotate90d}


def test_speckle_is_multiplicative_keeps_the_range_and_leaves_black_black():
    image = torch.full((1, 64, 64), 0.5)
    image[:, :, :8] = 0.0
    speckle = RandSpeckleNoised("image", prob=1.0)
    speckle.set_random_state(seed=1)

    noisy = speckle({"image": image})["image"]

    assert noisy.min() >= 0.0 and noisy.max() <= 1.0
    assert torch.all(noisy[:, :, :8] == 0.0)
    assert noisy[:, :, 8:].std() > 0.05
    assert abs(noisy[:, :, 8:].mean().item() - 0.5) < 0.05


def test_a_sample_is_augmented_the_same_whichever_process_draws_it():
    image, mask = torch.rand(1, 32, 32), (torch.rand(3, 32, 32) > 0.5).float()

    first = _augmented(augmentation(), image, mask, seed=7)
    second = _augmented(augmentation(), image, mask, seed=7)
    other = _augmented(augmentation(), image, mask, seed=8)

    assert torch.equal(first["image"], second["image"])
    assert torch.equal(first["mask"], second["mask"])
    assert not torch.equal(first["image"], other["image"])
    assert type(first["image"]) is torch.Tensor


def test_processes_share_each_batch_of_the_single_process_order():
    config = FitConfig(batch_size=8, seed=3)

    single = _global_batches(30, config, epoch=2, world=1)
    shared = _global_batches(30, config, epoch=2, world=2)

    assert [len(b) for b in single] == [8, 8, 8, 6]
    assert [len(b) for b in shared] == [8, 8, 8, 6]
    for one, two in zip(single, shared):
        assert torch.equal(one, two)
    assert [len(b) for b in _global_batches(29, config, 2, world=2)] == [8, 8, 8, 4]
    assert not torch.equal(single[0], _global_batches(30, config, epoch=3, world=1)[0])
