""" The pretrained_cfg every zoo model starts from: CIFAR-10's 3x32x32 input, 10 classes and statistics. """
from typing import Any, Dict

from ..constants import CIFAR10_MEAN, CIFAR10_STD


def cifar10_cfg(**kwargs: Any) -> Dict[str, Any]:
    """ timm's pretrained_cfg for 3x32x32 CIFAR-10; a family adds its first_conv and classifier. """
    return {
        'url': '',
        'num_classes': 10,
        'input_size': (3, 32, 32),
        'pool_size': None,
        'crop_pct': 1.0,
        'interpolation': 'bicubic',
        'fixed_input_size': False,
        'mean': CIFAR10_MEAN,
        'std': CIFAR10_STD,
        'license': 'apache-2.0',
        **kwargs,
    }
