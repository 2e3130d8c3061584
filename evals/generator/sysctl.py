"""`sysctl --all` (sysctls/sysctl_all.txt): a full-size dump with the conntrack keys in their place.

The dump is realistic in size and shape (a thousand-odd sorted `key = value` lines, per-interface
blocks for every veth, tab-separated multi-value keys) so that a tool has to find the three
numbers that matter (`net.netfilter.nf_conntrack_count`, `_max`, `_buckets`) among many
look-alikes such as `net.nf_conntrack_max` and `net.netfilter.nf_conntrack_expect_max`.
"""

from __future__ import annotations

from evals.generator.files import Bundle, lines_text
from evals.generator.world import World, rng_for, rng_uuid

_KERNEL = {
    "kernel.acct": "4\t2\t30", "kernel.auto_msgmni": "0", "kernel.bpf_stats_enabled": "0", "kernel.cad_pid": "1",
    "kernel.cap_last_cap": "40", "kernel.core_pattern": "core", "kernel.core_pipe_limit": "0",
    "kernel.core_uses_pid": "1", "kernel.ctrl-alt-del": "0", "kernel.dmesg_restrict": "0",
    "kernel.domainname": "(none)", "kernel.ftrace_dump_on_oops": "0", "kernel.hardlockup_all_cpu_backtrace": "0",
    "kernel.hung_task_check_count": "4194304", "kernel.hung_task_panic": "0", "kernel.hung_task_timeout_secs": "120",
    "kernel.hung_task_warnings": "10", "kernel.io_delay_type": "1", "kernel.keys.maxbytes": "20000",
    "kernel.keys.maxkeys": "200", "kernel.keys.root_maxbytes": "25000000", "kernel.keys.root_maxkeys": "1000000",
    "kernel.kptr_restrict": "0", "kernel.max_lock_depth": "1024", "kernel.modules_disabled": "0",
    "kernel.msgmax": "8192", "kernel.msgmnb": "16384", "kernel.msgmni": "32000", "kernel.ngroups_max": "65536",
    "kernel.nmi_watchdog": "0", "kernel.numa_balancing": "0", "kernel.osrelease": "", "kernel.ostype": "Linux",
    "kernel.overflowgid": "65534", "kernel.overflowuid": "65534", "kernel.panic": "10", "kernel.panic_on_oops": "1",
    "kernel.panic_on_warn": "0", "kernel.perf_event_max_sample_rate": "100000", "kernel.perf_event_paranoid": "2",
    "kernel.pid_max": "4194304", "kernel.poweroff_cmd": "/sbin/poweroff", "kernel.print-fatal-signals": "0",
    "kernel.printk": "4\t4\t1\t7", "kernel.printk_delay": "0", "kernel.printk_devkmsg": "on",
    "kernel.printk_ratelimit": "5", "kernel.printk_ratelimit_burst": "10", "kernel.randomize_va_space": "2",
    "kernel.sched_autogroup_enabled": "0", "kernel.sched_rr_timeslice_ms": "100", "kernel.sched_rt_period_us": "1000000",
    "kernel.sched_rt_runtime_us": "950000", "kernel.sem": "32000\t1024000000\t500\t32000", "kernel.shm_rmid_forced": "0",
    "kernel.shmall": "18446744073692774399", "kernel.shmmax": "18446744073692774399", "kernel.shmmni": "4096",
    "kernel.softlockup_panic": "0", "kernel.sysrq": "16", "kernel.tainted": "0", "kernel.threads-max": "",
    "kernel.unprivileged_bpf_disabled": "2", "kernel.watchdog": "1", "kernel.watchdog_thresh": "10",
    "kernel.yama.ptrace_scope": "0",
}
_FS = {
    "fs.aio-max-nr": "65536", "fs.aio-nr": "0", "fs.binfmt_misc.status": "enabled", "fs.dir-notify-enable": "1",
    "fs.file-max": "9223372036854775807", "fs.inotify.max_queued_events": "16384",
    "fs.inotify.max_user_instances": "8192", "fs.inotify.max_user_watches": "524288", "fs.lease-break-time": "45",
    "fs.leases-enable": "1", "fs.mount-max": "100000", "fs.nr_open": "1048576", "fs.overflowgid": "65534",
    "fs.overflowuid": "65534", "fs.pipe-max-size": "1048576", "fs.pipe-user-pages-hard": "0",
    "fs.pipe-user-pages-soft": "16384", "fs.protected_fifos": "1", "fs.protected_hardlinks": "1",
    "fs.protected_regular": "1", "fs.protected_symlinks": "1", "fs.suid_dumpable": "0",
    "fs.xfs.error_level": "3", "fs.xfs.filestream_centisecs": "3000", "fs.xfs.inherit_noatime": "1",
    "fs.xfs.inherit_nodefrag": "1", "fs.xfs.inherit_nodump": "1", "fs.xfs.inherit_nosymlinks": "0",
    "fs.xfs.inherit_sync": "1", "fs.xfs.irix_sgid_inherit": "0", "fs.xfs.irix_symlink_mode": "0",
    "fs.xfs.panic_mask": "0", "fs.xfs.rotorstep": "1", "fs.xfs.speculative_prealloc_lifetime": "300",
    "fs.xfs.stats_clear": "0", "fs.xfs.xfssyncd_centisecs": "3000",
}
_NET_CORE = {
    "net.core.bpf_jit_enable": "1", "net.core.bpf_jit_harden": "0", "net.core.bpf_jit_kallsyms": "1",
    "net.core.busy_poll": "0", "net.core.busy_read": "0", "net.core.default_qdisc": "fq_codel",
    "net.core.dev_weight": "64", "net.core.dev_weight_rx_bias": "1", "net.core.dev_weight_tx_bias": "1",
    "net.core.devconf_inherit_init_net": "0", "net.core.fb_tunnels_only_for_init_net": "0",
    "net.core.flow_limit_cpu_bitmap": "0", "net.core.flow_limit_table_len": "4096",
    "net.core.max_skb_frags": "17", "net.core.message_burst": "10", "net.core.message_cost": "5",
    "net.core.netdev_budget": "300", "net.core.netdev_budget_usecs": "2000", "net.core.netdev_max_backlog": "1000",
    "net.core.netdev_rss_key": "", "net.core.netdev_tstamp_prequeue": "1", "net.core.optmem_max": "81920",
    "net.core.rmem_default": "212992", "net.core.rmem_max": "212992", "net.core.rps_sock_flow_entries": "0",
    "net.core.somaxconn": "4096", "net.core.tstamp_allow_data": "1", "net.core.warnings": "0",
    "net.core.wmem_default": "212992", "net.core.wmem_max": "212992", "net.core.xfrm_acq_expires": "30",
    "net.core.xfrm_aevent_etime": "10", "net.core.xfrm_aevent_rseqth": "2", "net.core.xfrm_larval_drop": "1",
}
_NET_IPV4 = {
    "net.ipv4.cipso_cache_bucket_size": "10", "net.ipv4.cipso_cache_enable": "1", "net.ipv4.cipso_rbm_optfmt": "0",
    "net.ipv4.cipso_rbm_strictvalid": "1", "net.ipv4.fib_multipath_hash_policy": "0",
    "net.ipv4.fib_multipath_use_neigh": "0", "net.ipv4.fwmark_reflect": "0", "net.ipv4.icmp_echo_ignore_all": "0",
    "net.ipv4.icmp_echo_ignore_broadcasts": "1", "net.ipv4.icmp_errors_use_inbound_ifaddr": "0",
    "net.ipv4.icmp_ignore_bogus_error_responses": "1", "net.ipv4.icmp_msgs_burst": "50",
    "net.ipv4.icmp_msgs_per_sec": "1000", "net.ipv4.icmp_ratelimit": "1000", "net.ipv4.icmp_ratemask": "6168",
    "net.ipv4.igmp_link_local_mcast_reports": "1", "net.ipv4.igmp_max_memberships": "20",
    "net.ipv4.igmp_max_msf": "10", "net.ipv4.igmp_qrv": "2", "net.ipv4.inet_peer_maxttl": "600",
    "net.ipv4.inet_peer_minttl": "120", "net.ipv4.inet_peer_threshold": "65664", "net.ipv4.ip_default_ttl": "127",
    "net.ipv4.ip_dynaddr": "0", "net.ipv4.ip_early_demux": "1", "net.ipv4.ip_forward": "1",
    "net.ipv4.ip_forward_update_priority": "1", "net.ipv4.ip_forward_use_pmtu": "0",
    "net.ipv4.ip_local_port_range": "32768\t60999", "net.ipv4.ip_local_reserved_ports": "",
    "net.ipv4.ip_no_pmtu_disc": "0", "net.ipv4.ip_nonlocal_bind": "0", "net.ipv4.ip_unprivileged_port_start": "1024",
    "net.ipv4.ipfrag_high_thresh": "4194304", "net.ipv4.ipfrag_low_thresh": "3145728",
    "net.ipv4.ipfrag_max_dist": "64", "net.ipv4.ipfrag_secret_interval": "0", "net.ipv4.ipfrag_time": "30",
    "net.ipv4.neigh.default.gc_interval": "30", "net.ipv4.neigh.default.gc_stale_time": "60",
    "net.ipv4.neigh.default.gc_thresh1": "0", "net.ipv4.neigh.default.gc_thresh2": "15360",
    "net.ipv4.neigh.default.gc_thresh3": "16384", "net.ipv4.ping_group_range": "0\t2147483647",
    "net.ipv4.raw_l3mdev_accept": "1", "net.ipv4.route.error_burst": "1250", "net.ipv4.route.error_cost": "250",
    "net.ipv4.route.gc_elasticity": "8", "net.ipv4.route.gc_interval": "60", "net.ipv4.route.gc_min_interval": "0",
    "net.ipv4.route.gc_min_interval_ms": "500", "net.ipv4.route.gc_thresh": "-1", "net.ipv4.route.gc_timeout": "300",
    "net.ipv4.route.max_size": "2147483647", "net.ipv4.route.min_adv_mss": "256", "net.ipv4.route.min_pmtu": "552",
    "net.ipv4.route.mtu_expires": "600", "net.ipv4.route.redirect_load": "5", "net.ipv4.route.redirect_number": "9",
    "net.ipv4.route.redirect_silence": "5120", "net.ipv4.tcp_abort_on_overflow": "0", "net.ipv4.tcp_adv_win_scale": "1",
    "net.ipv4.tcp_allowed_congestion_control": "reno cubic", "net.ipv4.tcp_app_win": "31",
    "net.ipv4.tcp_autocorking": "1", "net.ipv4.tcp_available_congestion_control": "reno cubic",
    "net.ipv4.tcp_base_mss": "1024", "net.ipv4.tcp_challenge_ack_limit": "1000", "net.ipv4.tcp_congestion_control": "cubic",
    "net.ipv4.tcp_dsack": "1", "net.ipv4.tcp_early_retrans": "3", "net.ipv4.tcp_ecn": "2", "net.ipv4.tcp_ecn_fallback": "1",
    "net.ipv4.tcp_fack": "0", "net.ipv4.tcp_fastopen": "1", "net.ipv4.tcp_fin_timeout": "60", "net.ipv4.tcp_frto": "2",
    "net.ipv4.tcp_fwmark_accept": "0", "net.ipv4.tcp_invalid_ratelimit": "500", "net.ipv4.tcp_keepalive_intvl": "75",
    "net.ipv4.tcp_keepalive_probes": "9", "net.ipv4.tcp_keepalive_time": "7200", "net.ipv4.tcp_l3mdev_accept": "0",
    "net.ipv4.tcp_limit_output_bytes": "1048576", "net.ipv4.tcp_low_latency": "0", "net.ipv4.tcp_max_orphans": "",
    "net.ipv4.tcp_max_reordering": "300", "net.ipv4.tcp_max_syn_backlog": "", "net.ipv4.tcp_max_tw_buckets": "",
    "net.ipv4.tcp_mem": "", "net.ipv4.tcp_min_rtt_wlen": "300", "net.ipv4.tcp_min_snd_mss": "48",
    "net.ipv4.tcp_min_tso_segs": "2", "net.ipv4.tcp_moderate_rcvbuf": "1", "net.ipv4.tcp_mtu_probing": "0",
    "net.ipv4.tcp_no_metrics_save": "0", "net.ipv4.tcp_notsent_lowat": "4294967295", "net.ipv4.tcp_orphan_retries": "0",
    "net.ipv4.tcp_pacing_ca_ratio": "120", "net.ipv4.tcp_pacing_ss_ratio": "200", "net.ipv4.tcp_probe_interval": "600",
    "net.ipv4.tcp_probe_threshold": "8", "net.ipv4.tcp_recovery": "1", "net.ipv4.tcp_reordering": "3",
    "net.ipv4.tcp_retrans_collapse": "1", "net.ipv4.tcp_retries1": "3", "net.ipv4.tcp_retries2": "15",
    "net.ipv4.tcp_rfc1337": "0", "net.ipv4.tcp_rmem": "4096\t131072\t6291456", "net.ipv4.tcp_sack": "1",
    "net.ipv4.tcp_slow_start_after_idle": "1", "net.ipv4.tcp_stdurg": "0", "net.ipv4.tcp_syn_retries": "6",
    "net.ipv4.tcp_synack_retries": "5", "net.ipv4.tcp_syncookies": "1", "net.ipv4.tcp_thin_linear_timeouts": "0",
    "net.ipv4.tcp_timestamps": "1", "net.ipv4.tcp_tso_win_divisor": "3", "net.ipv4.tcp_tw_reuse": "2",
    "net.ipv4.tcp_window_scaling": "1", "net.ipv4.tcp_wmem": "4096\t16384\t4194304", "net.ipv4.tcp_workaround_signed_windows": "0",
    "net.ipv4.udp_early_demux": "1", "net.ipv4.udp_l3mdev_accept": "0", "net.ipv4.udp_mem": "",
    "net.ipv4.udp_rmem_min": "4096", "net.ipv4.udp_wmem_min": "4096", "net.ipv4.xfrm4_gc_thresh": "32768",
}
_CONF4 = {
    "accept_local": "0", "accept_redirects": "1", "accept_source_route": "0", "arp_accept": "0", "arp_announce": "0",
    "arp_filter": "0", "arp_ignore": "0", "arp_notify": "0", "bc_forwarding": "0", "bootp_relay": "0",
    "disable_policy": "0", "disable_xfrm": "0", "drop_gratuitous_arp": "0", "drop_unicast_in_l2_multicast": "0",
    "force_igmp_version": "0", "forwarding": "1", "igmpv2_unsolicited_report_interval": "10000",
    "igmpv3_unsolicited_report_interval": "1000", "ignore_routes_with_linkdown": "0", "log_martians": "0",
    "mc_forwarding": "0", "medium_id": "0", "promote_secondaries": "1", "proxy_arp": "0", "proxy_arp_pvlan": "0",
    "route_localnet": "0", "rp_filter": "1", "secure_redirects": "1", "send_redirects": "1", "shared_media": "1",
    "src_valid_mark": "0", "tag": "0",
}
_CONF6 = {
    "accept_dad": "1", "accept_ra": "1", "accept_ra_defrtr": "1", "accept_ra_from_local": "0",
    "accept_ra_min_hop_limit": "1", "accept_ra_mtu": "1", "accept_ra_pinfo": "1", "accept_ra_rt_info_max_plen": "0",
    "accept_ra_rt_info_min_plen": "0", "accept_ra_rtr_pref": "1", "accept_redirects": "1",
    "accept_source_route": "0", "addr_gen_mode": "0", "autoconf": "1", "dad_transmits": "1",
    "disable_ipv6": "0", "disable_policy": "0", "drop_unicast_in_l2_multicast": "0",
    "drop_unsolicited_na": "0", "enhanced_dad": "1", "force_mld_version": "0", "force_tllao": "0", "forwarding": "0",
    "hop_limit": "64", "ignore_routes_with_linkdown": "0", "keep_addr_on_down": "0", "max_addresses": "16",
    "max_desync_factor": "600", "mc_forwarding": "0", "mldv1_unsolicited_report_interval": "10000",
    "mldv2_unsolicited_report_interval": "1000", "mtu": "1500", "ndisc_notify": "0", "proxy_ndp": "0",
    "regen_max_retry": "3", "router_probes": "1", "router_solicitation_delay": "1",
    "router_solicitation_interval": "4", "router_solicitation_max_interval": "3600", "router_solicitations": "-1",
    "suppress_frag_ndisc": "1", "temp_prefered_lft": "86400", "temp_valid_lft": "604800", "use_oif_addrs_only": "0",
    "use_tempaddr": "0",
}
_VM = {
    "vm.admin_reserve_kbytes": "8192", "vm.compact_unevictable_allowed": "1", "vm.dirty_background_bytes": "0",
    "vm.dirty_background_ratio": "10", "vm.dirty_bytes": "0", "vm.dirty_expire_centisecs": "3000",
    "vm.dirty_ratio": "20", "vm.dirty_writeback_centisecs": "500", "vm.dirtytime_expire_seconds": "43200",
    "vm.drop_caches": "0", "vm.extfrag_threshold": "500", "vm.hugetlb_shm_group": "0", "vm.laptop_mode": "0",
    "vm.legacy_va_layout": "0", "vm.lowmem_reserve_ratio": "256\t256\t32\t0\t0", "vm.max_map_count": "524288",
    "vm.memory_failure_early_kill": "0", "vm.memory_failure_recovery": "1", "vm.min_free_kbytes": "",
    "vm.min_slab_ratio": "5", "vm.min_unmapped_ratio": "1", "vm.mmap_min_addr": "4096",
    "vm.nr_hugepages": "0", "vm.nr_overcommit_hugepages": "0", "vm.numa_stat": "1", "vm.numa_zonelist_order": "Node",
    "vm.oom_dump_tasks": "1", "vm.oom_kill_allocating_task": "0", "vm.overcommit_kbytes": "0",
    "vm.overcommit_memory": "1", "vm.overcommit_ratio": "50", "vm.page-cluster": "3", "vm.panic_on_oom": "0",
    "vm.percpu_pagelist_fraction": "0", "vm.stat_interval": "1", "vm.swappiness": "60", "vm.user_reserve_kbytes": "",
    "vm.vfs_cache_pressure": "100", "vm.watermark_boost_factor": "15000", "vm.watermark_scale_factor": "10",
    "vm.zone_reclaim_mode": "0",
}


def _netfilter(world: World) -> dict[str, str]:
    k, sizing = world.kernel, world.sizing
    expect_max = max(1, sizing.kernel_buckets // 256) * 4
    values = {
        "net.netfilter.nf_conntrack_acct": "0", "net.netfilter.nf_conntrack_buckets": str(sizing.buckets),
        "net.netfilter.nf_conntrack_checksum": "1", "net.netfilter.nf_conntrack_count": str(world.count),
        "net.netfilter.nf_conntrack_dccp_loose": "1", "net.netfilter.nf_conntrack_dccp_repl": "3",
        "net.netfilter.nf_conntrack_dccp_timeout_closereq": "64", "net.netfilter.nf_conntrack_dccp_timeout_closing": "64",
        "net.netfilter.nf_conntrack_dccp_timeout_open": "43200", "net.netfilter.nf_conntrack_dccp_timeout_partopen": "480",
        "net.netfilter.nf_conntrack_dccp_timeout_request": "240", "net.netfilter.nf_conntrack_dccp_timeout_respond": "480",
        "net.netfilter.nf_conntrack_dccp_timeout_timewait": "240", "net.netfilter.nf_conntrack_events": "1",
        "net.netfilter.nf_conntrack_expect_max": str(expect_max),
        "net.netfilter.nf_conntrack_frag6_high_thresh": "4194304", "net.netfilter.nf_conntrack_frag6_low_thresh": "3145728",
        "net.netfilter.nf_conntrack_frag6_timeout": "60", "net.netfilter.nf_conntrack_generic_timeout": "600",
        "net.netfilter.nf_conntrack_gre_timeout": "30", "net.netfilter.nf_conntrack_gre_timeout_stream": "180",
        "net.netfilter.nf_conntrack_icmp_timeout": "30", "net.netfilter.nf_conntrack_icmpv6_timeout": "30",
        "net.netfilter.nf_conntrack_log_invalid": "0", "net.netfilter.nf_conntrack_max": str(sizing.max),
        "net.netfilter.nf_conntrack_sctp_timeout_closed": "10",
        "net.netfilter.nf_conntrack_sctp_timeout_cookie_echoed": "3",
        "net.netfilter.nf_conntrack_sctp_timeout_cookie_wait": "3",
        "net.netfilter.nf_conntrack_sctp_timeout_established": "210" if not k.is_al2 else "432000",
        "net.netfilter.nf_conntrack_sctp_timeout_heartbeat_acked": "210",
        "net.netfilter.nf_conntrack_sctp_timeout_heartbeat_sent": "30",
        "net.netfilter.nf_conntrack_sctp_timeout_shutdown_ack_sent": "3",
        "net.netfilter.nf_conntrack_sctp_timeout_shutdown_recd": "0" if not k.is_al2 else "3",
        "net.netfilter.nf_conntrack_sctp_timeout_shutdown_sent": "0" if not k.is_al2 else "3",
        "net.netfilter.nf_conntrack_tcp_be_liberal": "0", "net.netfilter.nf_conntrack_tcp_loose": "1",
        "net.netfilter.nf_conntrack_tcp_max_retrans": "3", "net.netfilter.nf_conntrack_tcp_timeout_close": "10",
        "net.netfilter.nf_conntrack_tcp_timeout_close_wait": "3600",
        "net.netfilter.nf_conntrack_tcp_timeout_established": "86400",
        "net.netfilter.nf_conntrack_tcp_timeout_fin_wait": "120", "net.netfilter.nf_conntrack_tcp_timeout_last_ack": "30",
        "net.netfilter.nf_conntrack_tcp_timeout_max_retrans": "300",
        "net.netfilter.nf_conntrack_tcp_timeout_syn_recv": "60", "net.netfilter.nf_conntrack_tcp_timeout_syn_sent": "120",
        "net.netfilter.nf_conntrack_tcp_timeout_time_wait": "120",
        "net.netfilter.nf_conntrack_tcp_timeout_unacknowledged": "300", "net.netfilter.nf_conntrack_timestamp": "0",
        "net.netfilter.nf_conntrack_udp_timeout": "30",
        "net.netfilter.nf_conntrack_udp_timeout_stream": str(k.udp_stream_timeout),
        "net.netfilter.nf_log.0": "NONE", "net.netfilter.nf_log.1": "NONE", "net.netfilter.nf_log.2": "NONE",
        "net.netfilter.nf_log.3": "NONE", "net.netfilter.nf_log.4": "NONE", "net.netfilter.nf_log.5": "NONE",
        "net.netfilter.nf_log.6": "NONE", "net.netfilter.nf_log.7": "NONE", "net.netfilter.nf_log.8": "NONE",
        "net.netfilter.nf_log.9": "NONE", "net.netfilter.nf_log.10": "NONE", "net.netfilter.nf_log.11": "NONE",
        "net.netfilter.nf_log.12": "NONE", "net.netfilter.nf_log_all_netns": "0",
        "net.nf_conntrack_max": str(sizing.max),
    }
    if k.key == "al2-4.14":
        values["net.netfilter.nf_conntrack_helper"] = "0"
    if not k.legacy_conntrack_sizing:
        values["net.netfilter.nf_conntrack_tcp_ignore_invalid_rst"] = "0"
        values["net.netfilter.nf_hooks_lwtunnel"] = "0"
    return values


def sysctl_lines(world: World) -> list[str]:
    k, itype = world.kernel, world.itype
    rng = rng_for(world.spec, "sysctl")
    values: dict[str, str] = {"abi.vsyscall32": "1", "crypto.fips_enabled": "0", "debug.exception-trace": "1",
                              "debug.kprobes-optimization": "1", "dev.hpet.max-user-freq": "64",
                              "dev.raid.speed_limit_max": "200000", "dev.raid.speed_limit_min": "1000",
                              "dev.scsi.logging_level": "0", "net.unix.max_dgram_qlen": "512",
                              "user.max_cgroup_namespaces": "", "user.max_inotify_instances": "8192",
                              "user.max_inotify_watches": "524288", "user.max_ipc_namespaces": "",
                              "user.max_mnt_namespaces": "", "user.max_net_namespaces": "",
                              "user.max_pid_namespaces": "", "user.max_user_namespaces": "",
                              "user.max_uts_namespaces": ""}
    values.update(_KERNEL)
    values.update(_FS)
    values.update(_NET_CORE)
    values.update(_NET_IPV4)
    values.update(_VM)
    threads = int(itype.mem_gib * 7900)
    ns_max = str(threads // 2)
    pages = int(itype.mem_gib * 262144)
    values.update({
        "kernel.osrelease": k.release, "kernel.hostname": world.hostname,
        "kernel.random.boot_id": rng_uuid(rng), "kernel.random.entropy_avail": "256",
        "kernel.random.poolsize": "256", "kernel.threads-max": str(threads),
        "kernel.version": k.build, "net.core.netdev_rss_key": ":".join(f"{rng.randrange(256):02x}" for _ in range(40)),
        "fs.file-nr": f"{rng.randint(4000, 30000)}\t0\t9223372036854775807",
        "fs.inode-nr": f"{rng.randint(80000, 400000)}\t{rng.randint(100, 9000)}",
        "net.ipv4.tcp_max_orphans": str(max(4096, threads // 4)), "net.ipv4.tcp_max_syn_backlog": "1024",
        "net.ipv4.tcp_max_tw_buckets": str(max(4096, threads // 4)),
        "net.ipv4.tcp_mem": f"{pages // 128}\t{pages // 96}\t{pages // 64}",
        "net.ipv4.udp_mem": f"{pages // 64}\t{pages // 48}\t{pages // 32}",
        "vm.min_free_kbytes": str(int(itype.mem_gib * 8500)), "vm.user_reserve_kbytes": "131072",
        "user.max_cgroup_namespaces": ns_max, "user.max_ipc_namespaces": ns_max, "user.max_mnt_namespaces": ns_max,
        "user.max_net_namespaces": ns_max, "user.max_pid_namespaces": ns_max, "user.max_user_namespaces": ns_max,
        "user.max_uts_namespaces": ns_max,
    })
    if k.is_al2:
        values["fs.file-max"] = str(int(itype.mem_gib * 98000))
        values["kernel.printk"] = "8\t4\t1\t7"
    values.update(_netfilter(world))
    interfaces = ["all", "default", *sorted(i.name for i in world.interfaces)]
    for iface in interfaces:
        for key, value in _CONF4.items():
            if key == "rp_filter" and iface == k.primary_iface:
                value = "2"  # the aws-vpc-cni-init container sets loose mode on the primary ENI
            values[f"net.ipv4.conf.{iface}.{key}"] = value
        for key, value in _CONF6.items():
            if key == "mtu":
                value = "65536" if iface == "lo" else "9001" if iface not in ("all", "default") else "1280"
            values[f"net.ipv6.conf.{iface}.{key}"] = value
        if iface not in ("all", "default"):
            for key, value in (("base_reachable_time_ms", "30000"), ("delay_first_probe_time", "5"),
                               ("gc_stale_time", "60"), ("mcast_solicit", "3"), ("ucast_solicit", "3"),
                               ("unres_qlen", "101"), ("retrans_time_ms", "1000")):
                values[f"net.ipv4.neigh.{iface}.{key}"] = value
    return [f"{key} = {value}" for key, value in sorted(values.items())]


def build(world: World, bundle: Bundle) -> None:
    bundle.add("sysctls/sysctl_all.txt", lines_text(sysctl_lines(world)))
