""" Per-channel statistics and labels of the data sets the zoo's pretrained_cfgs are written for, and where its
weights are published. """
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR10_LABELS = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck')
FASHION_MNIST_MEAN = (0.2860,)
FASHION_MNIST_STD = (0.3530,)
FASHION_MNIST_LABELS = (
    'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot')
MNIST_MEAN = (0.1307,)
MNIST_STD = (0.3081,)
MNIST_LABELS = tuple(str(digit) for digit in range(10))

# the Hugging Face Hub organisation of every pretrained_cfg's hf_hub_id: '<organisation>/<architecture>.<tag>'
HF_HUB_ORGANIZATION = 'timm-attnzoo'
