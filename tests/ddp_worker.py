"""A 2-process training run under torchrun (gloo on the CPU, whatever GPUs the machine has), for test_train.py.
Modes: 'plain' (each rank saves the weights it ends with), 'batch' (norm='batch': the ranks' BN statistics must agree),
'nan' (rank 1's loss turns NaN at the third iteration: every rank must stop, each writes the message it stopped with),
'term' (rank 1 alone gets SIGTERM in the fourth iteration: every rank must stop after it, with a checkpoint),
'die' (rank 1 kills itself with SIGKILL in the fifth iteration of torchrun's first attempt: torchrun --max-restarts
restarts both, and the run must go on from its checkpoint), 'worker' (one DataLoader worker per rank; rank 1's is killed
with SIGKILL in the second iteration: every rank must stop after the same iteration, with a checkpoint),
'half' (stop at iteration 3), 'resume' (continue to 6)."""
import multiprocessing, os, signal, sys
import torch
import torch.distributed as dist
from pix2pixhd.model import get_options
from pix2pixhd.train import Trainer, TrainingStopped
from pix2pixhd.checkpoint import TrainingInterrupted

out, mode = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else 'plain')
opt = get_options('toy', ngf=8, ndf=8, n_downsample_global=2, n_blocks_global=1, loadSize=64, toy_n=16, batchSize=2,
                  niter=2, niter_decay=2, nThreads=1 if mode == 'worker' else 0, max_iters=3 if mode == 'half' else 6, save_latest_freq=3, checkpoints_dir=out, name='ddp',
                  **({'norm': 'batch'} if mode == 'batch' else {}))
torch.set_num_threads(1)
tr = Trainer(opt, resume=mode == 'resume', device='cpu', progress=False, log=lambda m: print(m, flush=True))
if mode == 'nan' and tr.dist.rank == 1:
    adversarial = tr.model.adversarial_losses
    def poisoned(*a, **k):
        losses = adversarial(*a, **k)
        return {n: v * float('nan') for n, v in losses.items()} if tr.total_iters == 2 else losses
    tr.model.adversarial_losses = poisoned
if mode == 'term' and tr.dist.rank == 1:
    step = tr.step
    def signalled(batch):
        if tr.total_iters == 3: os.kill(os.getpid(), signal.SIGTERM)   # in iteration 4, this rank only
        return step(batch)
    tr.step = signalled
if mode == 'die' and tr.dist.rank == 1 and os.environ.get('TORCHELASTIC_RESTART_COUNT') == '0':
    step = tr.step
    def dies(batch):
        if tr.total_iters == 4: os.kill(os.getpid(), signal.SIGKILL)   # in iteration 5: the rank is gone, mid-step
        return step(batch)
    tr.step = dies
if mode == 'worker' and tr.dist.rank == 1:
    step = tr.step
    def worker_killed(batch):
        if tr.total_iters == 1: [os.kill(w.pid, signal.SIGKILL) for w in multiprocessing.active_children()]   # as the OOM killer
        return step(batch)
    tr.step = worker_killed
seen = [i for _, i in tr.loader(0).sampler]
try: tr.fit()
except TrainingStopped as e:
    open(f"{out}/rank{tr.dist.rank}.stopped", 'w').write(str(e))
except TrainingInterrupted as e:
    open(f"{out}/rank{tr.dist.rank}.stopped", 'w').write(f"{tr.total_iters} {e}")
torch.save({'state': tr.model.state_dict(), 'seen': seen, 'world_size': tr.dist.world_size,
            'ddp': sorted(tr.model._runners)}, f"{out}/rank{tr.dist.rank}.pt")
dist.barrier()                       # every rank done with the group before any tears it down (an abort at exit was seen once)
dist.destroy_process_group()
