"""The Keras peer of benchmarks/peers.py: Keras 3 on its TensorFlow CPU backend, written as the Keras
tutorials write it (``Sequential`` + ``model.fit``; keras-io's ``train_step`` for the VAEs and the DCGAN)."""

from __future__ import annotations

import os
import time

from peer_common import BATCH, STEPS, steady_rate, until_reached


def keras_model(job: str, keras, layers, ops, tf):
    """The job's compiled model; the VAEs also have ``nelbo(x)`` (-ELBO per example)."""
    if job == "lstm":
        model = keras.Sequential([keras.Input((28, 28)), layers.LSTM(128), layers.Dense(10)])
    elif job == "cnn":
        model = keras.Sequential([
            keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"), layers.Flatten(), layers.Dense(64, activation="relu"),
            layers.Dense(10)])
    elif job == "dcgan":
        return keras_dcgan(keras, layers, tf)
    if job in ("cnn", "lstm"):
        model.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"],
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model
    latent = 32 if job == "conv_vae" else 20
    if job == "conv_vae":
        encoder = keras.Sequential([
            keras.Input((28, 28, 1)), layers.Conv2D(32, 4, 2, "same", activation="relu"),
            layers.Conv2D(64, 4, 2, "same", activation="relu"), layers.Flatten(), layers.Dense(2 * latent)])
        decoder = keras.Sequential([
            keras.Input((latent,)), layers.Dense(7 * 7 * 64, activation="relu"), layers.Reshape((7, 7, 64)),
            layers.Conv2DTranspose(32, 4, 2, "same", activation="relu"),
            layers.Conv2DTranspose(1, 4, 2, "same")])
    else:
        encoder = keras.Sequential([keras.Input((28, 28, 1)), layers.Flatten(),
                                    layers.Dense(400, activation="relu"), layers.Dense(2 * latent)])
        decoder = keras.Sequential([keras.Input((latent,)), layers.Dense(400, activation="relu"),
                                    layers.Dense(784), layers.Reshape((28, 28, 1))])

    class VAE(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.encoder, self.decoder = encoder, decoder

        def nelbo(self, x):
            mu, logvar = ops.split(self.encoder(x), 2, axis=1)
            z = mu + ops.exp(0.5 * logvar) * keras.random.normal(ops.shape(mu))
            logits = self.decoder(z)
            rec = ops.sum(ops.reshape(ops.binary_crossentropy(x, logits, from_logits=True), (-1, 784)), 1)
            return rec + 0.5 * ops.sum(mu ** 2 + ops.exp(logvar) - logvar - 1, 1)

        def train_step(self, x):
            with tf.GradientTape() as tape:
                loss = ops.mean(self.nelbo(x))
            grads = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            return {"loss": loss}

    model = VAE()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def keras_dcgan(keras, layers, tf):
    """keras-io's DCGAN ``train_step`` (D on real and generated images, then G on fresh noise) with
    pytorch/examples' layers sized for 28x28 (channels last)."""
    generator = keras.Sequential([
        keras.Input((100,)), layers.Dense(7 * 7 * 128), layers.Reshape((7, 7, 128)),
        layers.BatchNormalization(), layers.ReLU(), layers.Conv2DTranspose(64, 4, 2, "same", use_bias=False),
        layers.BatchNormalization(), layers.ReLU(),
        layers.Conv2DTranspose(1, 4, 2, "same", activation="tanh")])
    discriminator = keras.Sequential([
        keras.Input((28, 28, 1)), layers.Conv2D(64, 4, 2, "same"), layers.LeakyReLU(0.2),
        layers.Conv2D(128, 4, 2, "same", use_bias=False), layers.BatchNormalization(), layers.LeakyReLU(0.2),
        layers.Flatten(), layers.Dense(1)])
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    class GAN(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.generator, self.discriminator = generator, discriminator

        def compile(self, **kwargs) -> None:
            super().compile(**kwargs)
            self.d_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)
            self.g_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)

        def train_step(self, real):
            n = tf.shape(real)[0]
            fake = self.generator(keras.random.normal((n, 100)))
            with tf.GradientTape() as tape:
                real_out, fake_out = self.discriminator(real), self.discriminator(fake)
                d_loss = bce(tf.ones_like(real_out), real_out) + bce(tf.zeros_like(fake_out), fake_out)
            grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
            self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
            with tf.GradientTape() as tape:
                out = self.discriminator(self.generator(keras.random.normal((n, 100))))
                g_loss = bce(tf.ones_like(out), out)
            grads = tape.gradient(g_loss, self.generator.trainable_weights)
            self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
            return {"d_loss": d_loss, "g_loss": g_loss}

    model = GAN()
    model.compile()
    return model


def run_keras(job: str, figure: str, data, max_epochs: int) -> dict:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf
    from keras import layers, ops

    keras.utils.set_random_seed(0)
    x_train, y_train, x_test, y_test = data
    shape = (-1, 28, 28) if job == "lstm" else (-1, 28, 28, 1)
    x_train, x_test = x_train.reshape(shape), x_test.reshape(shape)
    if job == "dcgan":
        x_train = x_train * 2 - 1
    if job not in ("cnn", "lstm"):
        y_train = None   # the VAEs and the GAN train on images alone
    model = keras_model(job, keras, layers, ops, tf)

    class Clock(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.marks, self.seconds, self.start = [], 0.0, 0.0

        def on_train_batch_end(self, batch, logs=None) -> None:
            self.marks.append(time.perf_counter())

        def on_epoch_begin(self, epoch, logs=None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None) -> None:
            self.seconds += time.perf_counter() - self.start

    clock = Clock()
    if figure == "throughput":
        model.fit(x_train, y_train, batch_size=BATCH, epochs=1, steps_per_epoch=STEPS, verbose=0,
                  callbacks=[clock])
        return steady_rate(clock.marks)

    def one_more_epoch(epochs: int) -> tuple[float, float]:
        model.fit(x_train, y_train, batch_size=BATCH, epochs=1, verbose=0, callbacks=[clock])
        if job == "mlp_vae":
            value = float(np.mean(np.concatenate([np.asarray(model.nelbo(x_test[i:i + 1000]))
                                                  for i in range(0, len(x_test), 1000)])))
        else:
            value = float(model.evaluate(x_test, y_test, batch_size=1000, verbose=0)[1])
        return clock.seconds, value

    return until_reached(job, max_epochs, one_more_epoch)
