"""The layers of a differentially private run: what Opacus needs for per-sample gradients.

Batch norm mixes the samples of a batch (its statistics) and has no per-sample gradient, so it becomes
group norm (Opacus's ``ModuleValidator`` fixers, the recipe of Opacus's own examples); ``nn.LSTM`` /
``nn.GRU`` / ``nn.RNN`` become Opacus's DP layers, whose gates are ``Linear`` layers with per-sample
gradients. Both swaps happen in place, before the optimizers see the parameters. A checkpoint loads
back (``runs.load``) through the same swap, then the recurrent layers return to torch's own
(``plain_layers``): the same weights under the same names.
"""

from __future__ import annotations

from torch import nn

from .privacy_checks import import_opacus


def private_layers(model: nn.Module) -> list[str]:
    """Replace, in place, the layers Opacus cannot give per-sample gradients for by the ones it
    recommends (``ModuleValidator.FIXERS``: batch norm -> group norm, LSTM/GRU -> DPLSTM/DPGRU; and
    ``nn.RNN`` -> DPRNN); returns one description per replaced kind. Imports Opacus only when
    something needs replacing, so loading a private CNN without batch norm needs none."""
    kinds = (nn.modules.batchnorm._BatchNorm, nn.RNN, nn.LSTM, nn.GRU)
    todo = [(name, m) for name, m in model.named_modules() if name and isinstance(m, kinds)]
    if not todo:
        return []
    import_opacus()
    from opacus.layers import DPRNN
    from opacus.validators import ModuleValidator

    replaced: dict[str, list[str]] = {}
    for name, module in todo:
        fixer = ModuleValidator.FIXERS.get(type(module))
        if fixer is not None:
            new = fixer(module)
        elif type(module) is nn.RNN:
            new = DPRNN(module.input_size, module.hidden_size, module.num_layers, module.bias,
                        module.batch_first, module.dropout, module.bidirectional,
                        nonlinearity=module.nonlinearity)
            new.load_state_dict(module.state_dict())
        else:
            continue
        parent, _, last = name.rpartition(".")
        setattr(model.get_submodule(parent), last, new.to(next(module.parameters()).device))
        replaced.setdefault(f"{type(module).__name__} -> {type(new).__name__}", []).append(name)
    return [f"{kind} ({', '.join(names)})" for kind, names in replaced.items()]


def plain_layers(model: nn.Module) -> None:
    """Opacus's recurrent layers back to torch's, in place, after a checkpoint loaded into them: the
    same weights under the same names (Opacus keeps nn.LSTM's), so inference, ONNX export and serving
    see the model a run without DP has (Opacus's cells are a Python loop over the steps)."""
    if not any(type(m).__module__.startswith("opacus") for m in model.modules()):
        return
    from opacus.layers import DPGRU, DPLSTM, DPRNN

    torch_layer = {DPLSTM: nn.LSTM, DPGRU: nn.GRU, DPRNN: nn.RNN}
    for name, module in list(model.named_modules()):
        cls = torch_layer.get(type(module))
        if cls is None:
            continue
        extra = {"nonlinearity": module.cell_params.get("nonlinearity", "tanh")} if cls is nn.RNN else {}
        plain = cls(module.input_size, module.hidden_size, module.num_layers, bias=module.bias,
                    batch_first=module.batch_first, dropout=module.dropout,
                    bidirectional=module.bidirectional, **extra)
        plain.load_state_dict(module.state_dict())
        parent, _, last = name.rpartition(".")
        setattr(model.get_submodule(parent), last, plain.to(next(module.parameters()).device))
