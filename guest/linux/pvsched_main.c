// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvsched.ko - the pvsched guest driver.
 *
 * Binds to the QEMU ivshmem PCI device (1af4:1110) whose BAR2 holds a
 * pvsched region (include/pvsched/abi.h), exposes the region as
 * /dev/pvsched (mmap; read-only unless the file is open for writing), and
 * asks the host for boosts on behalf of unmodified guest programs:
 *
 *   rt        while a real-time task runs on a vCPU (sched_switch; the
 *             interrupted task's priority is re-read at every interrupt,
 *             exec and priority inheritance, so a task that changed its own
 *             policy is seen within a tick);
 *   irq       during hard-irq handlers and hrtimer callbacks;
 *   softirq   during softirq handlers;
 *   deadline  when a real-time task arms its own sleep timer, its expiry
 *             on the host clock becomes the slot's kwake_at_ns, and the
 *             host boosts the vCPU thread before the timer fires.
 *
 * When the device is an ivshmem-doorbell whose host listens on it
 * (PVSCHED_F_DOORBELL), a request's start and end and a new deadline also
 * ring its doorbell (BAR0), so the host acts at once instead of polling.
 *
 * Each source is a module parameter (0/1, writable at run time).  The
 * decisions are in pvsched_policy.h, which a user-space unit test compiles
 * too.  The probes run with preemption (sched_switch: interrupts) off:
 * they only store to the region, never allocate or sleep.
 *
 * Copyright the pvsched developers.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/percpu.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/sched/task_stack.h>
#include <linux/tracepoint.h>
#include <linux/version.h>
#include <linux/workqueue.h>

#include <trace/events/irq.h>
#include <trace/events/sched.h>
#include <trace/events/timer.h>

#include "pvsched_policy.h"

#define PVS_VENDOR 0x1af4 /* Red Hat, Inc. (QEMU) */
#define PVS_DEVICE 0x1110 /* Inter-VM shared memory */
#define PVS_BAR	   2

/*
 * The probes' prototypes, checked against the kernel's own declarations at
 * build time: a kernel whose tracepoints take other arguments fails to
 * build here, with this message, instead of loading a probe that reads
 * the wrong arguments.
 */
#define PVS_CHECK_TP(name, ...)                                                \
	static_assert(__same_type(&__traceiter_##name,                         \
				  int (*)(void *, __VA_ARGS__)),               \
		      "pvsched: this kernel's " #name                          \
		      " tracepoint has another "                               \
		      "signature; the driver supports Linux 5.18 and later")

#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 18, 0)
#error "pvsched: the guest driver needs Linux 5.18 or later (sched_switch with prev_state)"
#endif

PVS_CHECK_TP(sched_switch, bool, struct task_struct *, struct task_struct *,
	     unsigned int);
PVS_CHECK_TP(sched_process_exec, struct task_struct *, pid_t,
	     struct linux_binprm *);
PVS_CHECK_TP(sched_pi_setprio, struct task_struct *, struct task_struct *);
PVS_CHECK_TP(irq_handler_entry, int, struct irqaction *);
PVS_CHECK_TP(irq_handler_exit, int, struct irqaction *, int);
PVS_CHECK_TP(softirq_entry, unsigned int);
PVS_CHECK_TP(softirq_exit, unsigned int);
PVS_CHECK_TP(hrtimer_expire_entry, struct hrtimer *, ktime_t *);
PVS_CHECK_TP(hrtimer_expire_exit, struct hrtimer *);
#ifdef PVS_HRTIMER_START_WAS_ARMED /* Kbuild: newer kernels, some stable ones  \
				    */
PVS_CHECK_TP(hrtimer_start, struct hrtimer *, enum hrtimer_mode, bool);
#define PVS_HRT_START_ARGS                                                     \
	struct hrtimer *t, enum hrtimer_mode mode, bool was_armed
#else
PVS_CHECK_TP(hrtimer_start, struct hrtimer *, enum hrtimer_mode);
#define PVS_HRT_START_ARGS struct hrtimer *t, enum hrtimer_mode mode
#endif

/* ---- parameters -------------------------------------------------------- */

static bool rt = true;
module_param(rt, bool, 0644);
MODULE_PARM_DESC(
	rt,
	"Ask for a boost while a real-time task runs on a vCPU (default 1)");

static bool irq = true;
module_param(irq, bool, 0644);
MODULE_PARM_DESC(irq, "Ask for a boost during hard-irq handlers and hrtimer "
		      "callbacks (default 1)");

static bool softirq = true;
module_param(softirq, bool, 0644);
MODULE_PARM_DESC(softirq,
		 "Ask for a boost during softirq handlers (default 1)");

static bool deadline = true;
module_param(deadline, bool, 0644);
MODULE_PARM_DESC(deadline, "Publish real-time tasks' sleep timer expiries as "
			   "wake deadlines (default 1)");

static unsigned int deadline_len_us;
module_param(deadline_len_us, uint, 0644);
MODULE_PARM_DESC(deadline_len_us, "Boost this long after a published deadline; "
				  "0 = the host's default (default 0)");

static u32 pvs_enabled(void)
{
	u32 m = 0;

	if (READ_ONCE(rt))
		m |= PVSCHED_KREQ_RT;
	if (READ_ONCE(irq))
		m |= PVSCHED_KREQ_HARDIRQ;
	if (READ_ONCE(softirq))
		m |= PVSCHED_KREQ_SOFTIRQ;
	return m;
}

/* ---- the bound device ---------------------------------------------------- */

struct pvs_dev {
	struct pci_dev *pdev;
	void *mem;	    /* BAR2, mapped write-back */
	void __iomem *regs; /* BAR0: the doorbell (1.4); NULL: not mapped */
	resource_size_t len;
	phys_addr_t phys;
	u32 nr_slots; /* slots the driver writes: min(nr_vcpus, max_vcpus) */
	u32 vcpu_offset;
	u32 vcpu_stride;
	struct miscdevice misc;
	struct delayed_work clock_work;
	atomic64_t clock_off; /* host minus guest CLOCK_MONOTONIC, ns */
	atomic_t clock_ok;    /* clock_off is usable */
	u64 instance;	      /* host_instance clock_off belongs to */
	bool agent_seen;      /* for the log: the host agent's liveness */
	bool probes_on;
};

/* The one bound region (a VM has one); the probes read it.  Set before the
 * probes are registered, cleared after they are gone. */
static struct pvs_dev *pvs_active;
static DEFINE_MUTEX(pvs_bind_lock);
static DEFINE_PER_CPU(struct pvs_kcpu, pvs_kcpu);

static struct pvsched_header *pvs_hdr(const struct pvs_dev *d)
{
	return d->mem;
}

static struct pvsched_vcpu_guest *pvs_guest_part(const struct pvs_dev *d,
						 unsigned int cpu)
{
	return (struct pvsched_vcpu_guest *)((u8 *)d->mem + d->vcpu_offset +
					     (size_t)cpu * d->vcpu_stride +
					     PVSCHED_VCPU_GUEST_OFFSET);
}

/* Atomic read-modify-write of a u32 that guest programs change too;
 * returns the value before. */
static u32 pvs_add_u32(u32 *p, u32 v)
{
	u32 old = READ_ONCE(*p);

	while (!try_cmpxchg(p, &old, old + v))
		;
	return old;
}

/* -1, never below zero (whatever else wrote the field); the value before */
static u32 pvs_dec_u32(u32 *p)
{
	u32 old = READ_ONCE(*p);

	while (old && !try_cmpxchg(p, &old, old - 1))
		;
	return old;
}

/*
 * The slot's guest part changed: bump the counters the host scans by and,
 * when RING (a change the host must act on: the vCPU's first request, the
 * end of its last, a new deadline) and the host listens on the device's
 * doorbell (1.4), ring it so the host acts now rather than at its next
 * scan.  iowrite32 is ordered after the region stores before it.
 */
static void pvs_notify(struct pvs_dev *d, struct pvsched_vcpu_guest *g,
		       bool ring)
{
	struct pvsched_header *h = pvs_hdr(d);

	pvs_add_u32(&g->boost_seq, 1);
	pvs_add_u32(&h->boost_gen, 1);
	if (ring && d->regs &&
	    (READ_ONCE(h->host_features) & PVSCHED_F_DOORBELL))
		iowrite32(READ_ONCE(h->doorbell),
			  d->regs + PVSCHED_DOORBELL_REG);
}

static bool pvs_host_boosts(const struct pvs_dev *d)
{
	return READ_ONCE(pvs_hdr(d)->host_features) & PVSCHED_F_BOOST;
}

/* Apply EV on this CPU and publish what changed.  Interrupts off. */
static void pvs_apply(struct pvs_dev *d, enum pvs_kev ev, int arg)
{
	unsigned int cpu = smp_processor_id();
	struct pvs_kcpu *c = this_cpu_ptr(&pvs_kcpu);
	struct pvsched_vcpu_guest *g;
	int delta, notify;
	bool ring = false;
	u32 m, before = c->published;

	pvs_k_event(c, ev, arg);
	if (cpu >= d->nr_slots)
		return;
	m = pvs_k_update(c, pvs_host_boosts(d) ? pvs_enabled() : 0, &delta,
			 &notify);
	if (m == before)
		return;
	g = pvs_guest_part(d, cpu);
	WRITE_ONCE(g->kreq, m);
	/* ring only when the vCPU's request starts or ends: nested with a
	 * program's request, the driver's count changes nothing the host
	 * acts on */
	if (delta > 0)
		ring = pvs_add_u32(&g->boost_req, 1) == 0;
	else if (delta < 0)
		ring = pvs_dec_u32(&g->boost_req) == 1;
	if (notify)
		pvs_notify(d, g, ring);
}

static void pvs_event(enum pvs_kev ev, int arg)
{
	struct pvs_dev *d = READ_ONCE(pvs_active);
	unsigned long flags;

	if (unlikely(!d))
		return;
	/* a probe in task context may be interrupted by one in irq context
	 * on the same CPU: the per-CPU state changes with interrupts off */
	local_irq_save(flags);
	pvs_apply(d, ev, arg);
	local_irq_restore(flags);
}

/* ---- probes (tracepoint context: no sleeping, no allocation) ------------ */

static void pvs_tp_switch(void *data, bool preempt, struct task_struct *prev,
			  struct task_struct *next, unsigned int prev_state)
{
	pvs_event(PVS_KEV_SWITCH, READ_ONCE(next->prio));
}

static void pvs_tp_exec(void *data, struct task_struct *p, pid_t old_pid,
			struct linux_binprm *bprm)
{
	pvs_event(PVS_KEV_RESYNC, READ_ONCE(current->prio));
}

static void pvs_tp_pi(void *data, struct task_struct *tsk,
		      struct task_struct *pi_task)
{
	int prio;

	if (tsk != current)
		return; /* another CPU's task: its next switch tells */
	/* the priority the task is about to get, as the tracepoint's own
	 * event computes it */
	prio = READ_ONCE(tsk->normal_prio);
	if (pi_task && READ_ONCE(pi_task->prio) < prio)
		prio = READ_ONCE(pi_task->prio);
	pvs_event(PVS_KEV_RESYNC, prio);
}

static void pvs_irq_in(void)
{
	struct pvs_dev *d = READ_ONCE(pvs_active);

	if (unlikely(!d))
		return;
	/* interrupts are off here; the interrupted task may have changed
	 * its own policy since its switch-in: re-read it into the state, and
	 * publish both changes at once */
	pvs_k_event(this_cpu_ptr(&pvs_kcpu), PVS_KEV_RESYNC,
		    READ_ONCE(current->prio));
	pvs_apply(d, PVS_KEV_HARDIRQ_IN, 0);
}

static void pvs_irq_out(void)
{
	struct pvs_dev *d = READ_ONCE(pvs_active);

	if (likely(d))
		pvs_apply(d, PVS_KEV_HARDIRQ_OUT, 0);
}

static void pvs_tp_irq_entry(void *data, int irqn, struct irqaction *action)
{
	pvs_irq_in();
}

static void pvs_tp_irq_exit(void *data, int irqn, struct irqaction *action,
			    int ret)
{
	pvs_irq_out();
}

static void pvs_tp_hrt_entry(void *data, struct hrtimer *t, ktime_t *now)
{
	if (in_hardirq())
		pvs_irq_in();
	else
		pvs_event(PVS_KEV_SOFTIRQ_IN, 0); /* a soft hrtimer: softirq */
}

static void pvs_tp_hrt_exit(void *data, struct hrtimer *t)
{
	if (in_hardirq())
		pvs_irq_out();
	else
		pvs_event(PVS_KEV_SOFTIRQ_OUT, 0);
}

static void pvs_tp_softirq_entry(void *data, unsigned int vec)
{
	pvs_event(PVS_KEV_SOFTIRQ_IN, 0);
}

static void pvs_tp_softirq_exit(void *data, unsigned int vec)
{
	pvs_event(PVS_KEV_SOFTIRQ_OUT, 0);
}

/*
 * A real-time task arms a timer on its own stack in task context: its sleep
 * timeout (clock_nanosleep, futex and poll timeouts use on-stack
 * hrtimer_sleepers).  Publish the expiry on the host clock.
 */
static void pvs_tp_hrt_start(void *data, PVS_HRT_START_ARGS)
{
	struct pvs_dev *d = READ_ONCE(pvs_active);
	struct pvsched_vcpu_guest *g;
	unsigned long flags;
	unsigned int cpu;
	u64 host, mono, cur;
	s64 off;

	if (unlikely(!d) || !READ_ONCE(deadline) || !in_task() ||
	    !pvs_k_prio_is_rt(READ_ONCE(current->prio)) ||
	    !object_is_on_stack(t))
		return;
	/* Another agent (a restarted pvschedd, or the destination host of
	 * a live migration) runs another clock: no deadline until the clock
	 * work has measured its offset (within PVS_CLOCK_PERIOD_MS). */
	if (!atomic_read(&d->clock_ok) ||
	    READ_ONCE(pvs_hdr(d)->host_instance) != READ_ONCE(d->instance) ||
	    !(READ_ONCE(pvs_hdr(d)->host_features) & PVSCHED_F_KDEADLINE))
		return;
	local_irq_save(flags);
	cpu = smp_processor_id();
	if (cpu >= d->nr_slots)
		goto out;
	mono = ktime_get_ns();
	off = atomic64_read(&d->clock_off);
	host = pvs_k_deadline(ktime_to_ns(hrtimer_get_expires(t)),
			      ktime_to_ns(t->base->get_time()), mono, off);
	if (!host)
		goto out;
	g = pvs_guest_part(d, cpu);
	cur = READ_ONCE(g->kwake_at_ns);
	host = pvs_k_choose_deadline(cur, host, (u64)((s64)mono + off));
	if (host == cur)
		goto out;
	/* the length first: a host that sees the deadline sees its length */
	WRITE_ONCE(g->kwake_len_us, READ_ONCE(deadline_len_us));
	smp_wmb();
	WRITE_ONCE(g->kwake_at_ns, host);
	pvs_notify(d, g, true);
out:
	local_irq_restore(flags);
}

struct pvs_tp {
	const char *name;
	void *probe;
	struct tracepoint *tp;
	bool on;
};

/* Exits before entries: registered in this order, unregistered backwards,
 * an entry is never counted without its exit being seen. */
static struct pvs_tp pvs_tps[] = {
	{"irq_handler_exit", pvs_tp_irq_exit},
	{"hrtimer_expire_exit", pvs_tp_hrt_exit},
	{"softirq_exit", pvs_tp_softirq_exit},
	{"irq_handler_entry", pvs_tp_irq_entry},
	{"hrtimer_expire_entry", pvs_tp_hrt_entry},
	{"softirq_entry", pvs_tp_softirq_entry},
	{"sched_switch", pvs_tp_switch},
	{"sched_process_exec", pvs_tp_exec},
	{"sched_pi_setprio", pvs_tp_pi},
	{"hrtimer_start", pvs_tp_hrt_start},
};

static void pvs_find_tp(struct tracepoint *tp, void *priv)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(pvs_tps); i++)
		if (!strcmp(tp->name, pvs_tps[i].name))
			pvs_tps[i].tp = tp;
}

static void pvs_probes_off(void)
{
	int i;

	for (i = ARRAY_SIZE(pvs_tps) - 1; i >= 0; i--) {
		if (!pvs_tps[i].on)
			continue;
		WARN_ON(tracepoint_probe_unregister(pvs_tps[i].tp,
						    pvs_tps[i].probe, NULL));
		pvs_tps[i].on = false;
	}
	/* no probe is running or will run past this point */
	tracepoint_synchronize_unregister();
}

static int pvs_probes_on(void)
{
	size_t i;
	int rc;

	for_each_kernel_tracepoint(pvs_find_tp, NULL);
	for (i = 0; i < ARRAY_SIZE(pvs_tps); i++) {
		if (!pvs_tps[i].tp) {
			pr_err("kernel tracepoint %s not found: not "
			       "attaching\n",
			       pvs_tps[i].name);
			return -ENOENT;
		}
	}
	for (i = 0; i < ARRAY_SIZE(pvs_tps); i++) {
		rc = tracepoint_probe_register(pvs_tps[i].tp, pvs_tps[i].probe,
					       NULL);
		if (rc) {
			pr_err("cannot attach to tracepoint %s: %d\n",
			       pvs_tps[i].name, rc);
			pvs_probes_off();
			return rc;
		}
		pvs_tps[i].on = true;
	}
	return 0;
}

/* With the probes gone: take back every request the driver holds. */
static void pvs_release_all(struct pvs_dev *d)
{
	unsigned int cpu;

	for_each_possible_cpu(cpu)
	{
		struct pvs_kcpu *c = per_cpu_ptr(&pvs_kcpu, cpu);
		struct pvsched_vcpu_guest *g;
		bool changed = false;

		if (cpu < d->nr_slots) {
			g = pvs_guest_part(d, cpu);
			if (c->published) {
				pvs_dec_u32(&g->boost_req);
				changed = true;
			}
			if (READ_ONCE(g->kreq) || READ_ONCE(g->kwake_at_ns))
				changed = true;
			WRITE_ONCE(g->kreq, 0);
			WRITE_ONCE(g->kwake_at_ns, 0);
			WRITE_ONCE(g->kwake_len_us, 0);
			if (changed)
				pvs_notify(d, g, true);
		}
		memset(c, 0, sizeof(*c));
	}
}

/* ---- host clock ---------------------------------------------------------- */

#define PVS_CLOCK_PERIOD_MS 1000

/*
 * Host minus guest CLOCK_MONOTONIC: wait for the heartbeat to move, then
 * pair the host time it was published with (host_time_ns) and ours.  The
 * error is how late we see the change (the poll step, tens of us).
 */
static void pvs_clock_work(struct work_struct *w)
{
	struct pvs_dev *d =
		container_of(to_delayed_work(w), struct pvs_dev, clock_work);
	struct pvsched_header *h = pvs_hdr(d);
	u64 hb0, period_ns, limit, inst;
	bool alive = false;

	period_ns = (u64)READ_ONCE(h->publish_period_us) * NSEC_PER_USEC;
	if (!period_ns || period_ns > NSEC_PER_SEC)
		period_ns = 10 * NSEC_PER_MSEC;
	limit = ktime_get_ns() + 3 * period_ns;
	hb0 = READ_ONCE(h->heartbeat);
	while (READ_ONCE(h->magic) == PVSCHED_MAGIC &&
	       READ_ONCE(h->host_state) == PVSCHED_HOST_ACTIVE) {
		u64 hb, now, host;

		hb = smp_load_acquire(&h->heartbeat);
		now = ktime_get_ns();
		if (hb != hb0) {
			host = READ_ONCE(h->host_time_ns);
			inst = READ_ONCE(h->host_instance);
			atomic64_set(&d->clock_off, (s64)(host - now));
			if (inst != d->instance)
				pr_info("host agent %016llx: clock offset %lld "
					"ns\n",
					inst, (s64)(host - now));
			WRITE_ONCE(d->instance, inst);
			atomic_set(&d->clock_ok, 1);
			alive = true;
			break;
		}
		if (now > limit)
			break;
		usleep_range(20, 50);
	}
	if (!alive)
		atomic_set(&d->clock_ok,
			   0); /* deadlines wait for a live agent */
	if (alive != d->agent_seen)
		dev_info(&d->pdev->dev, "host agent %s\n",
			 alive ? "alive" : "gone (stale heartbeat)");
	d->agent_seen = alive;
	schedule_delayed_work(&d->clock_work,
			      msecs_to_jiffies(PVS_CLOCK_PERIOD_MS));
}

/* ---- /dev/pvsched -------------------------------------------------------- */

static int pvs_open(struct inode *inode, struct file *f)
{
	return READ_ONCE(pvs_active) ? 0 : -ENODEV;
}

/*
 * The whole region, or a prefix of it, shared and cached.  An opener
 * without write access gets a mapping that can never be made writable
 * (the mm core refuses PROT_WRITE on such a file and clears VM_MAYWRITE).
 */
static int pvs_mmap(struct file *f, struct vm_area_struct *vma)
{
	struct pvs_dev *d = READ_ONCE(pvs_active);
	unsigned long size = vma->vm_end - vma->vm_start;

	if (!d)
		return -ENODEV;
	/* MAP_SHARED only (a private copy of live data means nothing); the mm
	 * core keeps VM_MAYSHARE but drops VM_SHARED for a read-only file */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_pgoff || size > d->len)
		return -EINVAL;
	/* remap_pfn_range marks it VM_IO | VM_PFNMAP | VM_DONTEXPAND |
	 * VM_DONTDUMP */
	return remap_pfn_range(vma, vma->vm_start, d->phys >> PAGE_SHIFT, size,
			       vma->vm_page_prot);
}

static const struct file_operations pvs_fops = {
	.owner = THIS_MODULE,
	.open = pvs_open,
	.mmap = pvs_mmap,
	.llseek = noop_llseek,
};

/* ---- PCI ---------------------------------------------------------------- */

/* Like libpvsched's validation (lib/region.c): 0 when the region is usable. */
static int pvs_validate(struct pci_dev *pdev, const void *mem,
			resource_size_t len)
{
	const struct pvsched_header *h = mem;
	u64 magic = READ_ONCE(h->magic);
	u64 rsize = READ_ONCE(h->region_size);
	u32 off = READ_ONCE(h->vcpu_offset), stride = READ_ONCE(h->vcpu_stride);

	if (magic != PVSCHED_MAGIC) {
		dev_info(&pdev->dev,
			 "BAR2 holds no pvsched region (magic %#018llx): not "
			 "binding\n",
			 magic);
		return -ENODEV;
	}
	if (READ_ONCE(h->major) != PVSCHED_ABI_MAJOR) {
		dev_info(&pdev->dev,
			 "pvsched region of ABI major %u, driver speaks %u: "
			 "not binding\n",
			 READ_ONCE(h->major), PVSCHED_ABI_MAJOR);
		return -ENODEV;
	}
	if (READ_ONCE(h->header_size) < PVSCHED_HEADER_SIZE ||
	    rsize < PVSCHED_REGION_MIN_SIZE || rsize > len ||
	    (rsize & (rsize - 1)) || off < PVSCHED_VCPU_OFFSET ||
	    stride < PVSCHED_VCPU_STRIDE || off >= rsize ||
	    READ_ONCE(h->vm_offset) < PVSCHED_HEADER_SIZE ||
	    (u64)READ_ONCE(h->vm_offset) + READ_ONCE(h->vm_size) > off ||
	    READ_ONCE(h->nr_vcpus) > READ_ONCE(h->max_vcpus) ||
	    READ_ONCE(h->max_vcpus) > (rsize - off) / stride) {
		dev_info(&pdev->dev,
			 "pvsched region header is malformed: not binding\n");
		return -ENODEV;
	}
	return 0;
}

static int pvs_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct pvsched_header *h;
	struct pvs_dev *d;
	resource_size_t len = pci_resource_len(pdev, PVS_BAR);
	int rc;

	if (!len || !(pci_resource_flags(pdev, PVS_BAR) & IORESOURCE_MEM) ||
	    len < PVSCHED_REGION_MIN_SIZE)
		return -ENODEV; /* ivshmem-doorbell without memory, or too small
				 */
	d = devm_kzalloc(&pdev->dev, sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	rc = pcim_enable_device(pdev);
	if (rc)
		return rc;
	d->pdev = pdev;
	d->len = len;
	d->phys = pci_resource_start(pdev, PVS_BAR);
	d->mem = devm_memremap(&pdev->dev, d->phys, len, MEMREMAP_WB);
	if (IS_ERR(d->mem))
		return PTR_ERR(d->mem);
	rc = pvs_validate(pdev, d->mem, len);
	if (rc)
		return rc;
	/* the registers: ringing the doorbell of an ivshmem-doorbell device
	 * wakes the host agent; without them the host polls */
	if (pci_resource_len(pdev, 0) >= PVSCHED_DOORBELL_REG + 4 &&
	    (pci_resource_flags(pdev, 0) & IORESOURCE_MEM))
		d->regs = pcim_iomap(pdev, 0, 0);
	h = d->mem;
	d->vcpu_offset = READ_ONCE(h->vcpu_offset);
	d->vcpu_stride = READ_ONCE(h->vcpu_stride);
	d->nr_slots = min(READ_ONCE(h->nr_vcpus), READ_ONCE(h->max_vcpus));
	if (!d->nr_slots) /* the host has not counted the vCPUs yet */
		d->nr_slots = READ_ONCE(h->max_vcpus);
	d->nr_slots = min_t(u32, d->nr_slots, nr_cpu_ids);

	mutex_lock(&pvs_bind_lock);
	if (pvs_active) {
		mutex_unlock(&pvs_bind_lock);
		dev_info(
			&pdev->dev,
			"a pvsched region is bound already (%s): not binding\n",
			pci_name(pvs_active->pdev));
		return -EBUSY;
	}
	rc = pci_request_region(pdev, PVS_BAR, KBUILD_MODNAME);
	if (rc)
		goto unlock;
	d->misc.minor = MISC_DYNAMIC_MINOR;
	d->misc.name = "pvsched";
	d->misc.parent = &pdev->dev; /* libpvsched finds BAR0 through it */
	d->misc.fops = &pvs_fops;
	d->misc.mode =
		0644; /* the advice for every user; see 99-pvsched.rules */
	INIT_DELAYED_WORK(&d->clock_work, pvs_clock_work);
	WRITE_ONCE(pvs_active, d);
	rc = pvs_probes_on();
	if (rc)
		goto inactive;
	d->probes_on = true;
	rc = misc_register(&d->misc);
	if (rc)
		goto probes;
	pci_set_drvdata(pdev, d);
	/* the guest uses kernel deadlines (informational for the host) */
	{
		u64 old = READ_ONCE(h->guest_features);

		while (!try_cmpxchg(&h->guest_features, &old,
				    old | PVSCHED_F_KDEADLINE))
			;
	}
	schedule_delayed_work(&d->clock_work, 0);
	mutex_unlock(&pvs_bind_lock);
	dev_info(&pdev->dev,
		 "pvsched region %llu KiB, ABI %u.%u, %u vCPU slots, host "
		 "features %#llx: /dev/pvsched\n",
		 (unsigned long long)len >> 10, READ_ONCE(h->major),
		 READ_ONCE(h->minor), d->nr_slots, READ_ONCE(h->host_features));
	return 0;

probes:
	pvs_probes_off();
	pvs_release_all(d);
inactive:
	WRITE_ONCE(pvs_active, NULL);
	pci_release_region(pdev, PVS_BAR);
unlock:
	mutex_unlock(&pvs_bind_lock);
	return rc;
}

static void pvs_remove(struct pci_dev *pdev)
{
	struct pvs_dev *d = pci_get_drvdata(pdev);

	if (!d)
		return;
	mutex_lock(&pvs_bind_lock);
	misc_deregister(&d->misc);
	cancel_delayed_work_sync(&d->clock_work);
	pvs_probes_off();
	pvs_release_all(d);
	WRITE_ONCE(pvs_active, NULL);
	pci_release_region(pdev, PVS_BAR);
	mutex_unlock(&pvs_bind_lock);
	dev_info(&pdev->dev, "pvsched region released, no request left\n");
}

static const struct pci_device_id pvs_ids[] = {
	{PCI_DEVICE(PVS_VENDOR, PVS_DEVICE)}, {}};
MODULE_DEVICE_TABLE(pci, pvs_ids);

static struct pci_driver pvs_driver = {
	.name = KBUILD_MODNAME,
	.id_table = pvs_ids,
	.probe = pvs_probe,
	.remove = pvs_remove,
};
module_pci_driver(pvs_driver);

MODULE_DESCRIPTION("pvsched guest driver: host boosts for real-time tasks, "
		   "interrupts and timers");
MODULE_AUTHOR("the pvsched developers");
MODULE_LICENSE("GPL");
MODULE_VERSION("1.4.0");
