""" The check every model runs on its input, so a wrong channel count is a ValueError that says what to do. """
import torch


def check_in_chans(x: torch.Tensor, in_chans: int) -> None:
    """ Raise a ValueError unless x is (B, in_chans, H, W). """
    if x.ndim != 4 or x.shape[1] != in_chans:
        raise ValueError(
            f'Input of shape {tuple(x.shape)} does not have in_chans={in_chans} channels (B, C, H, W); '
            f'build the model with in_chans={x.shape[1] if x.ndim == 4 else "..."}.')
