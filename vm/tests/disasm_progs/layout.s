# Assembled by disasm_test with clang-19: the listing corner cases of
# llvm-objdump -d, which compiled C rarely hits.

# A section headed by no symbol (named after the section), a label, two
# aliases (the name that sorts last is shown), and a branch far past the end.
.section no_symbol_first,"ax",@progbits
  r0 = 1
inner:
  r0 += 2
.globl alias_b
.globl alias_a
alias_b:
alias_a:
  if r0 > 3 goto -3
  goto +100
  r1 = 0x1122334455667788 ll
  exit

# Zero runs ("..."), resuming in the middle of a slot, a data object inside
# a code section, and a symbol in the middle of an LD_IMM64.
.section zeros_and_data,"ax",@progbits
.globl fb
.type fb,@function
fb:
  r0 = 0
  .quad 0
  .quad 0
  .long 0
  .long 0x1234
  .quad 0x95
  exit
.type blob,@object
blob:
  .ascii "hello world, data!"
  .byte 0,0,0,0,0,0
.type after,@function
after:
  r1 = 0x55 ll
.set mid, after + 8
  exit

# An empty code section, which llvm-objdump does not list.
.section empty_code,"ax",@progbits

# Function and object symbols at one address, a backward branch before the
# section start, and an object-only chunk.
.section mixed,"ax",@progbits
.type zz,@function
.type aa,@function
.type obj2,@object
obj2:
zz:
aa:
  goto -0x7fff
  exit
.type objonly,@object
objonly:
  .quad 0x95
  .quad 0xab

.section .data
  .quad 1
