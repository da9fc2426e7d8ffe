// Command vcsim runs govmomi's vCenter simulator for vPoller's tests, demo and
// benchmarks.
//
// It builds a VPX (vCenter) inventory from the flags, serves the vSphere API
// over HTTPS with the given PEM certificate, prints one JSON line
// {"url": ..., "host": ..., "port": N} on stdout once it listens, and runs
// until SIGTERM or SIGINT.
//
// Unlike govmomi's Model, which creates a fixed number of VMs per resource
// pool, this launcher creates the VMs itself so that a total VM count can be
// spread exactly over the clusters and standalone hosts (-vm). VM names follow
// the Model's scheme: DC0_C0_RP0_VM0 in clusters, DC0_H0_VM0 on standalone
// hosts.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path"
	"strconv"
	"syscall"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/simulator/vpx"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
)

type options struct {
	listen       string
	cert         string
	key          string
	username     string
	password     string
	datacenters  int
	clusters     int
	clusterHosts int
	standalone   int
	vmTotal      int
	vmPerCluster int
	vmPerHost    int
	datastores   int
	portgroups   int
	pools        int
	autostart    bool
	stdinWatch   bool
}

// computeTarget is a place VMs are created in: a cluster's root pool or a
// standalone host.
type computeTarget struct {
	dc     string
	prefix string // VM name prefix, e.g. DC0_C0_RP0 or DC0_H0
	pool   string // inventory path of the resource pool
	host   string // inventory path of the host; "" lets the cluster choose
	count  int
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.listen, "listen", "127.0.0.1:0", "host:port to listen on (port 0: ephemeral)")
	flag.StringVar(&o.cert, "cert", "", "PEM certificate file (required)")
	flag.StringVar(&o.key, "key", "", "PEM private key file (required)")
	flag.StringVar(&o.username, "username", "user", "login user name")
	flag.StringVar(&o.password, "password", "pass", "login password")
	flag.IntVar(&o.datacenters, "dc", 1, "datacenters")
	flag.IntVar(&o.clusters, "cluster", 1, "clusters per datacenter")
	flag.IntVar(&o.clusterHosts, "host", 3, "hosts per cluster")
	flag.IntVar(&o.standalone, "standalone-host", 1, "standalone hosts per datacenter")
	flag.IntVar(&o.vmTotal, "vm", -1,
		"total VMs, spread evenly over all hosts (-1: use -vm-per-*)")
	flag.IntVar(&o.vmPerCluster, "vm-per-cluster", 2, "VMs per cluster (when -vm is -1)")
	flag.IntVar(&o.vmPerHost, "vm-per-host", 2, "VMs per standalone host (when -vm is -1)")
	flag.IntVar(&o.datastores, "ds", 1, "local datastores per datacenter, mounted on every host (>= 1)")
	flag.IntVar(&o.portgroups, "pg", 1, "distributed portgroups per datacenter")
	flag.IntVar(&o.pools, "pool", 0, "child resource pools per cluster (they hold no VMs)")
	flag.BoolVar(&o.autostart, "autostart", true, "power on the VMs")
	flag.BoolVar(&o.stdinWatch, "exit-on-stdin-eof", false,
		"exit when stdin closes, so the simulator dies with the process that started it")
	flag.Parse()
	return o
}

// cleanup, once set, removes the inventory's datastore directories.
var cleanup = func() {}

func fail(format string, args ...interface{}) {
	cleanup()
	fmt.Fprintf(os.Stderr, "vcsim: "+format+"\n", args...)
	os.Exit(1)
}

// targets lists where VMs go and how many each gets.
func targets(o options) []computeTarget {
	var ts []computeTarget
	for d := 0; d < o.datacenters; d++ {
		dc := "DC" + strconv.Itoa(d)
		for c := 0; c < o.clusters; c++ {
			name := dc + "_C" + strconv.Itoa(c)
			ts = append(ts, computeTarget{
				dc: dc, prefix: name + "_RP0",
				pool:  "/" + dc + "/host/" + name + "/Resources",
				count: o.vmPerCluster,
			})
		}
		for h := 0; h < o.standalone; h++ {
			name := dc + "_H" + strconv.Itoa(h)
			ts = append(ts, computeTarget{
				dc: dc, prefix: name,
				pool:  "/" + dc + "/host/" + name + "/Resources",
				host:  "/" + dc + "/host/" + name + "/" + name,
				count: o.vmPerHost,
			})
		}
	}
	if o.vmTotal >= 0 {
		// Deal the VMs out host by host, so a cluster gets VMs in proportion
		// to its hosts and a standalone host gets as many as a cluster host.
		var slots []int
		for i := range ts {
			ts[i].count = 0
			hosts := 1
			if ts[i].host == "" {
				hosts = o.clusterHosts
			}
			for h := 0; h < hosts; h++ {
				slots = append(slots, i)
			}
		}
		if len(slots) == 0 && o.vmTotal > 0 {
			fail("-vm %d needs at least one host", o.vmTotal)
		}
		for n := 0; n < o.vmTotal; n++ {
			ts[slots[n%len(slots)]].count++
		}
	}
	return ts
}

// createVMs creates the VMs of every target in-process, spreading them over
// the datacenter's datastores and portgroups round-robin.
func createVMs(ctx context.Context, c *vim25.Client, o options, ts []computeTarget) error {
	finder := find.NewFinder(c, false)
	backings := map[string][]types.BaseVirtualDeviceBackingInfo{}
	folders := map[string]*object.DatacenterFolders{}
	n := 0
	for _, t := range ts {
		if t.count == 0 {
			continue
		}
		if _, ok := folders[t.dc]; !ok {
			dc, err := finder.Datacenter(ctx, "/"+t.dc)
			if err != nil {
				return err
			}
			f, err := dc.Folders(ctx)
			if err != nil {
				return err
			}
			folders[t.dc] = f
			var bs []types.BaseVirtualDeviceBackingInfo
			for p := 0; p < o.portgroups; p++ {
				net, err := finder.Network(ctx, "/"+t.dc+"/network/"+t.dc+"_DVPG"+strconv.Itoa(p))
				if err != nil {
					return err
				}
				b, err := net.EthernetCardBackingInfo(ctx)
				if err != nil {
					return err
				}
				bs = append(bs, b)
			}
			if len(bs) == 0 {
				bs = append(bs, esx.EthernetCard.Backing) // "VM Network"
			}
			backings[t.dc] = bs
		}
		pool, err := finder.ResourcePool(ctx, t.pool)
		if err != nil {
			return err
		}
		var host *object.HostSystem
		if t.host != "" {
			if host, err = finder.HostSystem(ctx, t.host); err != nil {
				return err
			}
		}
		bs := backings[t.dc]
		for i := 0; i < t.count; i++ {
			name := t.prefix + "_VM" + strconv.Itoa(i)
			dsPath := "[LocalDS_" + strconv.Itoa(n%o.datastores) + "]"
			nic := esx.EthernetCard
			nic.Backing = bs[n%len(bs)]
			n++

			var devices object.VirtualDeviceList
			scsi, _ := devices.CreateSCSIController("pvscsi")
			ide, _ := devices.CreateIDEController()
			cdrom, _ := devices.CreateCdrom(ide.(*types.VirtualIDEController))
			disk := devices.CreateDisk(scsi.(types.BaseVirtualController), types.ManagedObjectReference{},
				dsPath+" "+path.Join(name, "disk1.vmdk"))
			disk.CapacityInKB = 1024
			devices = append(devices, scsi, cdrom, disk, &nic)

			spec := types.VirtualMachineConfigSpec{
				Name:    name,
				GuestId: string(types.VirtualMachineGuestOsIdentifierOtherGuest),
				Files:   &types.VirtualMachineFileInfo{VmPathName: dsPath},
			}
			if spec.DeviceChange, err = devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd); err != nil {
				return err
			}
			task, err := folders[t.dc].VmFolder.CreateVM(ctx, spec, pool, host)
			if err != nil {
				return err
			}
			res, err := taskResult(task)
			if err != nil {
				return fmt.Errorf("create %s: %w", name, err)
			}
			if o.autostart {
				vm := object.NewVirtualMachine(c, res.(types.ManagedObjectReference))
				ptask, err := vm.PowerOn(ctx)
				if err != nil {
					return err
				}
				if _, err = taskResult(ptask); err != nil {
					return fmt.Errorf("power on %s: %w", name, err)
				}
			}
		}
	}
	return nil
}

// taskResult reads the outcome of a finished task from the registry.
//
// The simulator runs tasks to completion before returning them, so there is
// nothing to wait for; task.Wait would create a PropertyCollector per task,
// each listening to every later change, which makes creating N VMs O(N^2).
func taskResult(task *object.Task) (types.AnyType, error) {
	t, ok := simulator.Map.Get(task.Reference()).(*simulator.Task)
	if !ok {
		return nil, fmt.Errorf("task %s not found", task.Reference())
	}
	if t.Info.State != types.TaskInfoStateSuccess {
		if t.Info.Error != nil {
			return nil, fmt.Errorf("task %s: %s", t.Info.State, t.Info.Error.LocalizedMessage)
		}
		return nil, fmt.Errorf("task %s", t.Info.State)
	}
	return t.Info.Result, nil
}

// setHistoricalIntervals gives the PerformanceManager vCenter's four default
// historical intervals; the simulator starts with none.
func setHistoricalIntervals() {
	pm := simulator.Map.Get(*vpx.ServiceContent.PerfManager).(*simulator.PerformanceManager)
	pm.HistoricalInterval = []types.PerfInterval{
		{Key: 1, SamplingPeriod: 300, Name: "Past day", Length: 86400, Level: 1, Enabled: true},
		{Key: 2, SamplingPeriod: 1800, Name: "Past week", Length: 604800, Level: 1, Enabled: true},
		{Key: 3, SamplingPeriod: 7200, Name: "Past month", Length: 2592000, Level: 1, Enabled: true},
		{Key: 4, SamplingPeriod: 86400, Name: "Past year", Length: 31536000, Level: 1, Enabled: true},
	}
}

func main() {
	o := parseFlags()
	if o.cert == "" || o.key == "" {
		fail("-cert and -key are required")
	}
	if o.datastores < 1 {
		fail("-ds must be at least 1")
	}
	cert, err := tls.LoadX509KeyPair(o.cert, o.key)
	if err != nil {
		fail("loading certificate: %v", err)
	}
	// Fail with a message rather than the simulator's panic when the port is taken.
	probe, err := net.Listen("tcp", o.listen)
	if err != nil {
		fail("cannot listen on %s: %v", o.listen, err)
	}
	_ = probe.Close()

	ts := targets(o)

	m := simulator.VPX()
	m.Datacenter = o.datacenters
	m.Cluster = o.clusters
	m.ClusterHost = o.clusterHosts
	m.Host = o.standalone
	m.Datastore = o.datastores
	m.Portgroup = o.portgroups
	m.Pool = o.pools
	m.Machine = 0 // created below, so that a total can be spread exactly
	m.Autostart = o.autostart

	if err = m.Create(); err != nil {
		fail("creating inventory: %v", err)
	}
	cleanup = m.Remove
	defer cleanup()
	setHistoricalIntervals()

	ctx := context.Background()
	client, err := vim25.NewClient(ctx, m.Service)
	if err != nil {
		fail("in-process client: %v", err)
	}
	if err = createVMs(ctx, client, o, ts); err != nil {
		fail("creating VMs: %v", err)
	}

	m.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	m.Service.Listen = &url.URL{Host: o.listen, User: url.UserPassword(o.username, o.password)}
	s := m.Service.NewServer()

	addr := s.Listener.Addr().(*net.TCPAddr)
	u := *s.URL
	u.User = nil // the caller knows the credentials; keep them off stdout
	line, _ := json.Marshal(map[string]interface{}{
		"url":  u.String(),
		"host": addr.IP.String(),
		"port": addr.Port,
	})
	if _, err = fmt.Fprintln(os.Stdout, string(line)); err != nil {
		s.Close()
		fail("writing ready line: %v", err)
	}
	_ = os.Stdout.Sync()

	done := make(chan os.Signal, 1)
	signal.Notify(done, syscall.SIGTERM, syscall.SIGINT)
	if o.stdinWatch {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			done <- syscall.SIGHUP
		}()
	}
	<-done
	s.Close()
}
