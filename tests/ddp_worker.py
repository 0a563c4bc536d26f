"A 2-process training run under torchrun (gloo on CPU): each rank saves the weights it ends with, for test_train.py."
import sys
import torch
import torch.distributed as dist
from pix2pixhd.model import get_options
from pix2pixhd.train import Trainer

out = sys.argv[1]
opt = get_options('toy', ngf=8, ndf=8, n_downsample_global=2, n_blocks_global=1, loadSize=64, toy_n=16, batchSize=2,
                  niter=2, niter_decay=2, nThreads=0, max_iters=6, save_latest_freq=3, checkpoints_dir=out, name='ddp')
torch.set_num_threads(1)
tr = Trainer(opt, progress=False, log=lambda m: None)
seen = [i for _, i in tr.loader(0).sampler]
tr.fit()
torch.save({'state': tr.model.state_dict(), 'seen': seen, 'world_size': tr.dist.world_size,
            'ddp': sorted(tr.model._runners)}, f"{out}/rank{tr.dist.rank}.pt")
dist.destroy_process_group()
