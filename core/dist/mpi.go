//go:build (linux || darwin || freebsd) && (amd64 || arm64)

package dist

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"

	"github.com/austen-diffusion/textdiffusion/core/internal/dlopen"
)

// mpi is Open MPI's MPI_COMM_WORLD through purego. Open MPI's handles (communicator,
// datatypes, operations) are the addresses of global objects in libmpi, found with Dlsym;
// MPICH's are integers, so this binding is Open MPI's only.
type mpi struct {
	mu           sync.Mutex // MPI_THREAD_SERIALIZED: one call at a time, from any thread
	rank, size   int
	world        uintptr // &ompi_mpi_comm_world
	f32, f64, u8 uintptr // &ompi_mpi_float, &ompi_mpi_double, &ompi_mpi_byte
	sum          uintptr // &ompi_mpi_op_sum

	allreduce func(send uintptr, recv unsafe.Pointer, count int32, dtype, op, comm uintptr) int32
	bcast     func(buf unsafe.Pointer, count int32, dtype uintptr, root int32, comm uintptr) int32
	barrier   func(comm uintptr) int32
	abort     func(comm uintptr, code int32) int32
	finalize  func() int32
}

const (
	mpiThreadSerialized = 2             // MPI_THREAD_SERIALIZED in Open MPI's mpi.h
	mpiInPlace          = 1             // MPI_IN_PLACE is the pointer value 1 in Open MPI
	maxCount            = math.MaxInt32 // an MPI count is a C int: longer buffers go in pieces
)

var mpiLibs = []string{"libmpi.so.40", "libmpi.so", "libmpi.40.dylib", "libmpi.dylib"}

// OpenMPI loads libmpi, initialises MPI (MPI_THREAD_SERIALIZED) and returns the world
// communicator. It fails with what to install when the library is missing, and with what
// to check when the process was not started by mpirun in a way MPI accepts.
func OpenMPI() (Comm, error) { return openMPI(mpiLibs) }

func openMPI(libs []string) (Comm, error) {
	lib, err := dlopen.First(libs)
	if err != nil {
		return nil, fmt.Errorf("-dist mpi: Open MPI's library not found (Debian: apt-get install openmpi-bin libopenmpi3): %w", err)
	}
	m := &mpi{}
	for _, h := range []struct {
		p   *uintptr
		sym string
	}{{&m.world, "ompi_mpi_comm_world"}, {&m.f32, "ompi_mpi_float"}, {&m.f64, "ompi_mpi_double"},
		{&m.u8, "ompi_mpi_byte"}, {&m.sum, "ompi_mpi_op_sum"}} {
		a, err := purego.Dlsym(lib, h.sym)
		if err != nil {
			return nil, fmt.Errorf("-dist mpi: %s is not Open MPI's (only Open MPI is supported): %w", libs[0], err)
		}
		*h.p = a
	}
	var (
		initThread  func(argc, argv unsafe.Pointer, required int32, provided *int32) int32
		initialized func(flag *int32) int32
		commRank    func(comm uintptr, rank *int32) int32
		commSize    func(comm uintptr, size *int32) int32
	)
	purego.RegisterLibFunc(&initialized, lib, "MPI_Initialized")
	purego.RegisterLibFunc(&initThread, lib, "MPI_Init_thread")
	purego.RegisterLibFunc(&commRank, lib, "MPI_Comm_rank")
	purego.RegisterLibFunc(&commSize, lib, "MPI_Comm_size")
	purego.RegisterLibFunc(&m.allreduce, lib, "MPI_Allreduce")
	purego.RegisterLibFunc(&m.bcast, lib, "MPI_Bcast")
	purego.RegisterLibFunc(&m.barrier, lib, "MPI_Barrier")
	purego.RegisterLibFunc(&m.abort, lib, "MPI_Abort")
	purego.RegisterLibFunc(&m.finalize, lib, "MPI_Finalize")

	var done int32
	if initialized(&done); done != 0 {
		return nil, errors.New("-dist mpi: MPI is already initialised in this process")
	}
	var provided int32
	if rc := initThread(nil, nil, mpiThreadSerialized, &provided); rc != 0 {
		return nil, fmt.Errorf("-dist mpi: MPI_Init_thread failed (code %d); start the command with mpirun", rc)
	}
	if provided < mpiThreadSerialized {
		m.finalize()
		return nil, fmt.Errorf("-dist mpi: Open MPI gives thread level %d, need MPI_THREAD_SERIALIZED (%d)", provided, mpiThreadSerialized)
	}
	var r, s int32
	commRank(m.world, &r)
	commSize(m.world, &s)
	m.rank, m.size = int(r), int(s)
	if m.size == 1 && os.Getenv("OMPI_COMM_WORLD_SIZE") == "" {
		fmt.Fprintln(os.Stderr, "dist: -dist mpi outside mpirun: one rank (start it with mpirun -np N)")
	}
	return m, nil
}

func (m *mpi) Rank() int    { return m.rank }
func (m *mpi) Size() int    { return m.size }
func (m *mpi) Name() string { return fmt.Sprintf("openmpi(rank %d of %d)", m.rank, m.size) }

// check turns a return code into a panic: with MPI_ERRORS_ARE_FATAL (the default, never
// changed here) a failing call ends the job before it returns, so a code is a bug.
func check(call string, rc int32) {
	if rc != 0 {
		panic(fmt.Sprintf("dist: %s returned %d", call, rc))
	}
}

func (m *mpi) AllReduceSum(buf []float32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pieces(buf, "MPI_Allreduce", func(p unsafe.Pointer, n int32) int32 { return m.allreduce(mpiInPlace, p, n, m.f32, m.sum, m.world) })
}

func (m *mpi) AllReduceSum64(buf []float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pieces(buf, "MPI_Allreduce", func(p unsafe.Pointer, n int32) int32 { return m.allreduce(mpiInPlace, p, n, m.f64, m.sum, m.world) })
}

func (m *mpi) Broadcast(buf []byte, root int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pieces(buf, "MPI_Bcast", func(p unsafe.Pointer, n int32) int32 { return m.bcast(p, n, m.u8, int32(root), m.world) })
}

// pieces calls call on buf in runs of at most maxCount elements (an MPI count is a C int).
func pieces[T any](buf []T, name string, call func(p unsafe.Pointer, n int32) int32) {
	for len(buf) > 0 {
		n := min(len(buf), maxCount)
		check(name, call(unsafe.Pointer(&buf[0]), int32(n)))
		buf = buf[n:]
	}
}

func (m *mpi) Barrier() {
	m.mu.Lock()
	defer m.mu.Unlock()
	check("MPI_Barrier", m.barrier(m.world))
}

func (m *mpi) Abort(code int) { m.abort(m.world, int32(code)) }

func (m *mpi) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rc := m.finalize(); rc != 0 {
		return fmt.Errorf("MPI_Finalize returned %d", rc)
	}
	return nil
}
