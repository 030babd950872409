/* Refused by the verifier (tests/verify_cli_test.cpp): reads the IPv4 TTL
 * after checking only the Ethernet header against data_end. The kernel
 * refuses it the same way ("invalid access to packet"). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>

#define SEC(name) __attribute__((section(name), used))

SEC("tc")
int bad_pkt(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > data_end) return 0;
  struct iphdr *ip = (void *)(eth + 1);
  return ip->ttl; /* VERIFIER-REJECTS-THIS-LINE */
}

char _license[] SEC("license") = "GPL";
