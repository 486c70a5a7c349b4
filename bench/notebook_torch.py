"""The teaching notebook's PyTorch way, as a script: the cold-start anchor for samples/seed.txt.

a = relu(x*w + b) at x=3, w=2, b=1 in float64, and the five gradients in one call.
"""

import torch

x = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
w = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
b = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
u = x * w
v = u + b
a = torch.relu(v)
d_a_x, d_a_w, d_a_b, d_a_u, d_a_v = torch.autograd.grad(a, (x, w, b, u, v))
print(f"d_a_x={d_a_x.item()} d_a_w={d_a_w.item()} d_a_b={d_a_b.item()} "
      f"d_a_u={d_a_u.item()} d_a_v={d_a_v.item()}")
