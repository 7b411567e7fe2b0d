"""End to end: a small CNN learns the bundled 8×8 digits with Adam (float32, seeded)."""
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_limits  # installed with scikit-learn

import minijoint
import minijoint.functional as F
import minijoint.nn as nn
from minijoint.data import DataLoader, load_digits
from minijoint.optim import Adam, CosineAnnealing


def small_cnn(rng):
    def conv_bn_relu(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False, rng=rng), nn.BatchNorm2d(c_out),
                nn.ReLU()]
    return nn.Sequential(*conv_bn_relu(1, 16), *conv_bn_relu(16, 32), nn.MaxPool2d(2),
                         *conv_bn_relu(32, 32), nn.GlobalAvgPool2d(), nn.Linear(32, 10, rng=rng))


def accuracy(model, x, y) -> float:
    model.eval()
    with minijoint.no_grad():
        logits = model(minijoint.Tensor(x)).numpy()
    model.train()
    return float((logits.argmax(axis=1) == y).mean())


@pytest.mark.slow
def test_small_cnn_learns_digits():
    # One BLAS thread: these matrices are small, and on a shared machine OpenBLAS's spinning
    # worker threads made this run several times slower (measured), not faster.
    with threadpool_limits(limits=1, user_api="blas"):
        train_and_check()


def train_and_check():
    start = time.perf_counter()
    (x_train, y_train), (x_test, y_test) = load_digits()
    model = small_cnn(np.random.default_rng(0))
    loader = DataLoader(x_train, y_train, batch_size=64, shuffle=True, seed=0)
    epochs = 8
    opt = Adam(model.parameters(), lr=1e-2, weight_decay=5e-4)
    sched = CosineAnnealing(opt, T_max=epochs * len(loader))
    first_loss = last_loss = None
    for _ in range(epochs):
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            first_loss = loss.item() if first_loss is None else first_loss
            last_loss = loss.item()
    assert model[-1].W.dtype == np.float32 and opt.state[0]["m"].dtype == np.float32
    acc = accuracy(model, x_test, y_test)
    seconds = time.perf_counter() - start
    print(f"digits small CNN: test accuracy {acc:.4f} in {seconds:.1f} s "
          f"(loss {first_loss:.3f} -> {last_loss:.3f})")
    assert last_loss < first_loss
    assert acc >= 0.95
