import numpy as np
import torch

from osrstudy.images import DeviceImages, to_device


def test_batches_equal_normalising_everything_up_front():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (50, 3, 8, 8), dtype=np.uint8)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    full = to_device(images, mean, std, "cpu")
    index = torch.tensor([3, 7, 7, 0, 49])
    for storage in ("device", "host"):  # host: the pinned-buffer path (plain memory on CPU)
        store = DeviceImages(images, mean, std, "cpu", storage=storage)
        assert store.data.dtype == torch.uint8 and store.shape == (50, 3, 8, 8)
        for _ in range(3):  # both buffers, reused
            torch.testing.assert_close(store[index], full[index], rtol=0, atol=0)
        torch.testing.assert_close(torch.cat(list(store.split(16))), full, rtol=0, atol=0)


def test_float_images_are_not_rescaled():
    images = np.random.default_rng(1).random((10, 1, 4, 4), dtype=np.float32)
    store = DeviceImages(images, (0.5,), (0.25,), "cpu")
    torch.testing.assert_close(store[torch.arange(10)], to_device(images, (0.5,), (0.25,), "cpu"))
