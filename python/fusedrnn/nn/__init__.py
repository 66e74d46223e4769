"""A small NumPy-native model toolkit around the fused recurrent layers, batch-first like Keras, so the
lectures' models paste as they are:

    from fusedrnn.nn import LSTM, Dense, Sequential
    model = Sequential()
    model.add(LSTM(50, activation="relu", input_shape=(3, 1)))
    model.add(Dense(1))
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    history = model.fit(X, y, epochs=1000, validation_split=0.2, verbose=0)   # X: [samples, steps, features]
    history.history["loss"][-1], model.predict(np.array([[[50], [51], [52]]]), verbose=0)   # ~153
    model.save("sum.keras");  model = load_model("sum.keras")

Keras's functional API builds models of several inputs and outputs, attention included:

    source, target_in = Input(shape=(None,), dtype="int64"), Input(shape=(None,), dtype="int64")
    encoded, h, c = LSTM(64, return_sequences=True, return_state=True)(Embedding(40, 32)(source))
    decoded = LSTM(64, return_sequences=True)(Embedding(12, 32)(target_in), initial_state=[h, c])
    out = Dense(12, activation="softmax")(Concatenate()([decoded, Attention()([decoded, encoded])]))
    model = Model([source, target_in], out)     # compile / fit / predict / save as a Sequential

It is not a framework: layers are plain objects with forward / backward, the loss and optimizer are
functions and small classes, and every gradient is checked against finite differences in the tests.
"""

from .activations import ACTIVATIONS
from .attention import Add, AdditiveAttention, Attention, Concatenate, Dot, add, concatenate, dot
from .callbacks import Callback, EarlyStopping, History, LambdaCallback, ModelCheckpoint, TerminateOnNaN
from .graph import KerasTensor
from .layers import (
    GRU,
    LSTM,
    Activation,
    Bidirectional,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Input,
    InputLayer,
    Layer,
    Masking,
    Recurrent,
    RepeatVector,
    SimpleRNN,
    TimeDistributed,
)
from .losses import (
    LOSSES,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    binary_crossentropy,
    categorical_crossentropy,
    mae,
    mse,
    sparse_categorical_crossentropy,
)
from .metrics import METRICS
from .model import Model
from .optimizers import SGD, Adam, RMSprop
from .saving import load_model, save_model
from .sequential import Sequential
from .torch_weights import load_torch_state_dict

__all__ = [
    "ACTIVATIONS",
    "GRU",
    "LOSSES",
    "LSTM",
    "METRICS",
    "SGD",
    "Activation",
    "Adam",
    "Add",
    "AdditiveAttention",
    "Attention",
    "Bidirectional",
    "BinaryCrossentropy",
    "Callback",
    "CategoricalCrossentropy",
    "Concatenate",
    "Dense",
    "Dot",
    "Dropout",
    "EarlyStopping",
    "Embedding",
    "Flatten",
    "History",
    "Input",
    "InputLayer",
    "KerasTensor",
    "LambdaCallback",
    "Layer",
    "Masking",
    "Model",
    "ModelCheckpoint",
    "RMSprop",
    "Recurrent",
    "RepeatVector",
    "Sequential",
    "SimpleRNN",
    "SparseCategoricalCrossentropy",
    "TerminateOnNaN",
    "TimeDistributed",
    "add",
    "binary_crossentropy",
    "categorical_crossentropy",
    "concatenate",
    "dot",
    "load_model",
    "load_torch_state_dict",
    "mae",
    "mse",
    "save_model",
    "sparse_categorical_crossentropy",
]
