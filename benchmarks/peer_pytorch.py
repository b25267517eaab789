"""The plain PyTorch peer of benchmarks/peers.py: the networks and the loop written in the style of
pytorch/examples (``DataLoader(TensorDataset)``, float32, Adam)."""

from __future__ import annotations

import time

from peer_common import BATCH, STEPS, steady_rate, until_reached


def torch_network(job: str):
    """The job's network (dcgan: (generator, discriminator)); the VAEs return -ELBO per example."""
    import torch
    from torch import nn

    class VAE(nn.Module):
        def __init__(self, conv: bool) -> None:
            super().__init__()
            latent = 32 if conv else 20
            if conv:
                self.encoder = nn.Sequential(nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1),
                                             nn.ReLU(), nn.Flatten(), nn.Linear(64 * 7 * 7, 2 * latent))
                self.decoder = nn.Sequential(nn.Linear(latent, 64 * 7 * 7), nn.ReLU(),
                                             nn.Unflatten(1, (64, 7, 7)), nn.ConvTranspose2d(64, 32, 4, 2, 1),
                                             nn.ReLU(), nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Flatten())
            else:
                self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, 400), nn.ReLU(),
                                             nn.Linear(400, 2 * latent))
                self.decoder = nn.Sequential(nn.Linear(latent, 400), nn.ReLU(), nn.Linear(400, 784))

        def forward(self, x):
            mu, logvar = self.encoder(x).chunk(2, 1)
            z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
            rec = nn.functional.binary_cross_entropy_with_logits(self.decoder(z), x.flatten(1),
                                                                 reduction="none").sum(1)
            return rec + 0.5 * (mu ** 2 + logvar.exp() - logvar - 1).sum(1)

    class Rows(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm, self.head = nn.LSTM(28, 128, batch_first=True), nn.Linear(128, 10)

        def forward(self, x):
            return self.head(self.lstm(x)[0][:, -1])

    if job == "dcgan":   # pytorch/examples' dcgan, sized for 28x28
        generator = nn.Sequential(nn.Linear(100, 128 * 7 * 7), nn.Unflatten(1, (128, 7, 7)),
                                  nn.BatchNorm2d(128), nn.ReLU(),
                                  nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU(), nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())
        discriminator = nn.Sequential(nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
                                      nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128),
                                      nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(128 * 7 * 7, 1))
        return generator, discriminator
    if job == "cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
                             nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10))
    return Rows() if job == "lstm" else VAE(conv=job == "conv_vae")


def train_step(job: str):
    """(step(x, y), the network to evaluate or None): one optimizer step per batch."""
    import torch

    if job == "dcgan":
        generator, discriminator = torch_network(job)
        g_opt, d_opt = (torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999))
                        for m in (generator, discriminator))
        bce = torch.nn.BCEWithLogitsLoss()

        def gan_step(x, y) -> None:   # D on real and detached fakes, then G through the updated D
            x = x * 2 - 1
            fake = generator(torch.randn(len(x), 100))
            ones, zeros = torch.ones(len(x), 1), torch.zeros(len(x), 1)
            d_opt.zero_grad()
            (bce(discriminator(x), ones) + bce(discriminator(fake.detach()), zeros)).backward()
            d_opt.step()
            g_opt.zero_grad()
            bce(discriminator(fake), ones).backward()
            g_opt.step()

        return gan_step, None
    net = torch_network(job)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step(x, y) -> None:
        loss = torch.nn.functional.cross_entropy(net(x), y) if job in ("cnn", "lstm") else net(x).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step, net


def run_pytorch(job: str, figure: str, data, max_epochs: int) -> dict:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    shape = (-1, 28, 28) if job == "lstm" else (-1, 1, 28, 28)
    x_train, y_train, x_test, y_test = (torch.from_numpy(a) for a in data)
    x_train, x_test = x_train.reshape(shape), x_test.reshape(shape)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=BATCH, shuffle=True)
    step, net = train_step(job)
    if figure == "throughput":
        marks = []
        for x, y in loader:
            step(x, y)
            marks.append(time.perf_counter())
            if len(marks) == STEPS:
                break
        return steady_rate(marks)
    seconds = 0.0

    def one_more_epoch(epochs: int) -> tuple[float, float]:
        nonlocal seconds
        net.train()
        start = time.perf_counter()
        for x, y in loader:
            step(x, y)
        seconds += time.perf_counter() - start
        net.eval()
        with torch.no_grad():
            out = torch.cat([net(x_test[i:i + 1000]) for i in range(0, len(x_test), 1000)])
        value = float((out.argmax(1) == y_test).float().mean()) if job != "mlp_vae" else float(out.mean())
        return seconds, value

    return until_reached(job, max_epochs, one_more_epoch)
