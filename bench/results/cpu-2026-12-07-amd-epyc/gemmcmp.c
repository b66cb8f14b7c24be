// sgemm rate at the CPU backend's per-tile calls, single thread. SGEMM(...) = a cblas_sgemm.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include CBLAS_HEADER
#ifndef SGEMM
#define SGEMM cblas_sgemm
#endif
static double now(void){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+1e-9*t.tv_nsec;}
static double rate(int m,int n,int k,int trans,int lda,int ldb,int ldc){
  float*A=malloc(sizeof(float)*(size_t)m*lda),*B=malloc(sizeof(float)*(size_t)(trans?n:k)*ldb),*C=malloc(sizeof(float)*(size_t)m*ldc);
  for(size_t i=0;i<(size_t)m*lda;i++)A[i]=(float)((i*7)%13)*0.1f-0.6f;
  for(size_t i=0;i<(size_t)(trans?n:k)*ldb;i++)B[i]=(float)((i*5)%11)*0.1f-0.5f;
  for(size_t i=0;i<(size_t)m*ldc;i++)C[i]=0;
  double best=1e30;
  for(int r=0;r<5;r++){int it=0;double t0=now(),t;
    do{SGEMM(CblasRowMajor,CblasNoTrans,trans?CblasTrans:CblasNoTrans,m,n,k,1.0f,A,lda,B,ldb,0.0f,C,ldc);it++;t=now()-t0;}while(t<0.15);
    if(t/it<best)best=t/it;}
  free(A);free(B);free(C);return 2.0*m*n*k/best*1e-9;}
int main(void){
  struct{const char*name;int VN,D,K;}s[]={{"toy",4096,32,256},{"lejepa",2048,128,1024},{"tall",65536,64,256},{"wide",2048,1024,1024}};
  printf("%-7s %10s %10s %10s %10s\n","shape","fwd-tile","bwd-proj","bwd-dz","whole");
  for(int i=0;i<4;i++){int D=s[i].D,K=s[i].K,kw=K<128?K:128,bk=K<512?K:512;
    double f=rate(256,kw,D,0,D,K,kw), bp=rate(128,bk,D,0,D,K,bk), bd=rate(128,D,bk,1,bk,K,D), w=rate(s[i].VN>8192?8192:s[i].VN,K,D,0,D,K,K);
    printf("%-7s %10.1f %10.1f %10.1f %10.1f\n",s[i].name,f,bp,bd,w);}
  return 0;}
