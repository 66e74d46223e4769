"""A small NumPy-native model toolkit around the fused recurrent layers, batch-first like Keras, so the
lectures' models are a few lines:

    from fusedrnn import nn
    model = nn.Sequential([nn.LSTM(50, activation="relu"), nn.Dense(1)])
    model.compile("adam", "mse")
    model.fit(X, y, epochs=1000, verbose=0)        # X: [samples, steps, features]
    model.predict(np.array([[[50], [51], [52]]]))  # ~153

It is not a framework: layers are plain objects with forward / backward, the loss and optimizer are
functions and small classes, and every gradient is checked against finite differences in the tests.
"""

from .layers import GRU, LSTM, Dense, Dropout, Embedding, Layer, Recurrent, SimpleRNN
from .losses import LOSSES, binary_crossentropy, mae, mse, sparse_categorical_crossentropy
from .optimizers import SGD, Adam, RMSprop
from .sequential import EarlyStopping, Sequential

__all__ = [
    "GRU",
    "LOSSES",
    "LSTM",
    "SGD",
    "Adam",
    "Dense",
    "Dropout",
    "EarlyStopping",
    "Embedding",
    "Layer",
    "RMSprop",
    "Recurrent",
    "Sequential",
    "SimpleRNN",
    "binary_crossentropy",
    "mae",
    "mse",
    "sparse_categorical_crossentropy",
]
