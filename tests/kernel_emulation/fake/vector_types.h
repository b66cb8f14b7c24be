// The emulation's stand-in for vector_types.h: the CUDA vector types (which CUTLASS names)
// with their alignments, and dim3.
#pragma once

#define SIGREG_FAKE_VECTOR(name, type, n, align) \
  struct alignas(align) name {                   \
    type x SIGREG_FAKE_FIELDS_##n;               \
  }
#define SIGREG_FAKE_FIELDS_1
#define SIGREG_FAKE_FIELDS_2 , y
#define SIGREG_FAKE_FIELDS_3 , y, z
#define SIGREG_FAKE_FIELDS_4 , y, z, w

SIGREG_FAKE_VECTOR(char1, signed char, 1, 1);
SIGREG_FAKE_VECTOR(char2, signed char, 2, 2);
SIGREG_FAKE_VECTOR(char3, signed char, 3, 1);
SIGREG_FAKE_VECTOR(char4, signed char, 4, 4);
SIGREG_FAKE_VECTOR(uchar1, unsigned char, 1, 1);
SIGREG_FAKE_VECTOR(uchar2, unsigned char, 2, 2);
SIGREG_FAKE_VECTOR(uchar3, unsigned char, 3, 1);
SIGREG_FAKE_VECTOR(uchar4, unsigned char, 4, 4);
SIGREG_FAKE_VECTOR(short1, short, 1, 2);
SIGREG_FAKE_VECTOR(short2, short, 2, 4);
SIGREG_FAKE_VECTOR(short3, short, 3, 2);
SIGREG_FAKE_VECTOR(short4, short, 4, 8);
SIGREG_FAKE_VECTOR(ushort1, unsigned short, 1, 2);
SIGREG_FAKE_VECTOR(ushort2, unsigned short, 2, 4);
SIGREG_FAKE_VECTOR(ushort3, unsigned short, 3, 2);
SIGREG_FAKE_VECTOR(ushort4, unsigned short, 4, 8);
SIGREG_FAKE_VECTOR(int1, int, 1, 4);
SIGREG_FAKE_VECTOR(int2, int, 2, 8);
SIGREG_FAKE_VECTOR(int3, int, 3, 4);
SIGREG_FAKE_VECTOR(int4, int, 4, 16);
SIGREG_FAKE_VECTOR(uint1, unsigned int, 1, 4);
SIGREG_FAKE_VECTOR(uint2, unsigned int, 2, 8);
SIGREG_FAKE_VECTOR(uint3, unsigned int, 3, 4);
SIGREG_FAKE_VECTOR(uint4, unsigned int, 4, 16);
SIGREG_FAKE_VECTOR(long1, long, 1, 8);
SIGREG_FAKE_VECTOR(long2, long, 2, 16);
SIGREG_FAKE_VECTOR(long3, long, 3, 8);
SIGREG_FAKE_VECTOR(long4, long, 4, 16);
SIGREG_FAKE_VECTOR(ulong1, unsigned long, 1, 8);
SIGREG_FAKE_VECTOR(ulong2, unsigned long, 2, 16);
SIGREG_FAKE_VECTOR(ulong3, unsigned long, 3, 8);
SIGREG_FAKE_VECTOR(ulong4, unsigned long, 4, 16);
SIGREG_FAKE_VECTOR(longlong1, long long, 1, 8);
SIGREG_FAKE_VECTOR(longlong2, long long, 2, 16);
SIGREG_FAKE_VECTOR(longlong3, long long, 3, 8);
SIGREG_FAKE_VECTOR(longlong4, long long, 4, 16);
SIGREG_FAKE_VECTOR(ulonglong1, unsigned long long, 1, 8);
SIGREG_FAKE_VECTOR(ulonglong2, unsigned long long, 2, 16);
SIGREG_FAKE_VECTOR(ulonglong3, unsigned long long, 3, 8);
SIGREG_FAKE_VECTOR(ulonglong4, unsigned long long, 4, 16);
SIGREG_FAKE_VECTOR(float1, float, 1, 4);
SIGREG_FAKE_VECTOR(float2, float, 2, 8);
SIGREG_FAKE_VECTOR(float3, float, 3, 4);
SIGREG_FAKE_VECTOR(float4, float, 4, 16);
SIGREG_FAKE_VECTOR(double1, double, 1, 8);
SIGREG_FAKE_VECTOR(double2, double, 2, 16);
SIGREG_FAKE_VECTOR(double3, double, 3, 8);
SIGREG_FAKE_VECTOR(double4, double, 4, 16);
SIGREG_FAKE_VECTOR(long4_16a, long, 4, 16);
SIGREG_FAKE_VECTOR(long4_32a, long, 4, 32);
SIGREG_FAKE_VECTOR(ulong4_16a, unsigned long, 4, 16);
SIGREG_FAKE_VECTOR(ulong4_32a, unsigned long, 4, 32);
SIGREG_FAKE_VECTOR(longlong4_16a, long long, 4, 16);
SIGREG_FAKE_VECTOR(longlong4_32a, long long, 4, 32);
SIGREG_FAKE_VECTOR(ulonglong4_16a, unsigned long long, 4, 16);
SIGREG_FAKE_VECTOR(ulonglong4_32a, unsigned long long, 4, 32);
SIGREG_FAKE_VECTOR(double4_16a, double, 4, 16);
SIGREG_FAKE_VECTOR(double4_32a, double, 4, 32);

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
