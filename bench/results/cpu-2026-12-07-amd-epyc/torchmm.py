import torch, time
torch.set_num_threads(1)
def rate(m,n,k,trans):
    a=torch.randn(m,k); b=torch.randn(n,k) if trans else torch.randn(k,n)
    best=1e30
    for r in range(5):
        it=0;t0=time.thread_time()
        while True:
            c=a@(b.t() if trans else b); it+=1; t=time.thread_time()-t0
            if t>0.15: break
        best=min(best,t/it)
    return 2*m*n*k/best*1e-9
print("%-7s %10s %10s %10s %10s"%("shape","fwd-tile","bwd-proj","bwd-dz","whole"))
for name,VN,D,K in [("toy",4096,32,256),("lejepa",2048,128,1024),("tall",65536,64,256),("wide",2048,1024,1024)]:
    kw=min(K,128); bk=min(K,512)
    print("%-7s %10.1f %10.1f %10.1f %10.1f"%(name,rate(256,kw,D,False),rate(128,bk,D,False),rate(128,D,bk,True),rate(min(VN,8192),K,D,False)))
