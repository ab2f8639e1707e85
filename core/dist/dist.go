package dist

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Comm connects the ranks of one job. Every rank calls the collective methods (AllReduce,
// Broadcast, Barrier) in the same order with the same lengths. A failed collective never
// returns: Open MPI's default error handler ends the whole job, and a rank that dies makes
// mpirun end the others, so no rank waits forever on a dead peer.
type Comm interface {
	Rank() int // 0 .. Size()-1; rank 0 writes the run's files
	Size() int
	// AllReduceSum replaces buf, on every rank, by the element-wise sum of every rank's buf
	// (in place: no second arena).
	AllReduceSum(buf []float32)
	AllReduceSum64(buf []float64)
	// Broadcast copies root's buf into every other rank's buf (same length everywhere).
	Broadcast(buf []byte, root int)
	Barrier()
	// Abort ends every rank of the job with code (MPI_Abort); it returns only for a single
	// process, whose caller then exits itself.
	Abort(code int)
	// Close ends this rank's part in the job (MPI_Finalize) after the last collective.
	Close() error
	Name() string // "single" or "openmpi(rank r of n)"
}

// Single is the communicator of one process: every collective is the identity.
type Single struct{}

var _ Comm = Single{}

func (Single) Rank() int                { return 0 }
func (Single) Size() int                { return 1 }
func (Single) AllReduceSum([]float32)   {}
func (Single) AllReduceSum64([]float64) {}
func (Single) Broadcast([]byte, int)    {}
func (Single) Barrier()                 {}
func (Single) Abort(int)                {}
func (Single) Close() error             { return nil }
func (Single) Name() string             { return "single" }

// Open returns the communicator a -dist flag names: "" or "none" for one process, "mpi"
// for Open MPI (an error that says what to install when libmpi cannot be loaded).
func Open(kind string) (Comm, error) {
	switch strings.ToLower(strings.TrimSpace(kind)) {
	case "", "none", "single":
		return Single{}, nil
	case "mpi":
		return OpenMPI()
	default:
		return nil, fmt.Errorf("dist %q: want none or mpi", kind)
	}
}

// Any reports on every rank whether flag is true on at least one rank: the ranks agree,
// for example, to stop at the same step when one of them is interrupted.
func Any(c Comm, flag bool) bool {
	if c.Size() == 1 {
		return flag
	}
	v := []float64{0}
	if flag {
		v[0] = 1
	}
	c.AllReduceSum64(v)
	return v[0] > 0
}

// BroadcastBytes returns root's data on every rank (the other ranks pass nil), and root's
// error when it had none to send (the other ranks then get an error naming root too).
// Only root needs the file a run starts from; the ranks on other hosts receive it.
func BroadcastBytes(c Comm, root int, data []byte, rootErr error) ([]byte, error) {
	if c.Size() == 1 {
		return data, rootErr
	}
	// Header: the length, or -1 when root failed.
	hdr := make([]byte, 8)
	if c.Rank() == root {
		n := int64(len(data))
		if rootErr != nil {
			n = -1
		}
		binary.LittleEndian.PutUint64(hdr, uint64(n))
	}
	c.Broadcast(hdr, root)
	n := int64(binary.LittleEndian.Uint64(hdr))
	if n < 0 {
		if c.Rank() == root {
			return nil, rootErr
		}
		return nil, fmt.Errorf("rank %d could not read the data it shares", root)
	}
	if c.Rank() != root {
		data = make([]byte, n)
	}
	c.Broadcast(data, root)
	return data, nil
}
