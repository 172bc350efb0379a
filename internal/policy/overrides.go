package policy

import "time"

// Overrides are settings an operator gives beside the policy file (serve's
// --default-room, --allow-room, --max-ttl, --origin, --allow-host, --rate
// and --burst). Apply lays them over a File; the zero value changes
// nothing. They are applied again to every reloaded file, so a reload
// keeps what the command line said.
type Overrides struct {
	// DefaultRoom replaces default_room when set.
	DefaultRoom string
	// AllowRooms replaces allow_rooms when not empty.
	AllowRooms []string
	// MaxTTL replaces max_ttl when positive; a longer default_ttl is cut
	// to it, so a shorter cap never makes the file's default invalid.
	MaxTTL time.Duration
	// Hosts and Origins are added to the file's hosts and origins.
	Hosts, Origins []string
	// AddressRate and AddressBurst, when set, replace that field of
	// rate_limit.per_address; the other field keeps the file's value, or
	// the default when the file sets none.
	AddressRate  *float64
	AddressBurst *int
}

// Apply changes f by o.
func (o Overrides) Apply(f *File) {
	if o.DefaultRoom != "" {
		f.DefaultRoom = o.DefaultRoom
	}
	if len(o.AllowRooms) > 0 {
		f.AllowRooms = o.AllowRooms
	}
	if o.MaxTTL > 0 {
		f.MaxTTL = Duration(o.MaxTTL)
		f.DefaultTTL = min(f.DefaultTTL, f.MaxTTL)
	}
	f.Hosts = append(f.Hosts, o.Hosts...)
	f.Origins = append(f.Origins, o.Origins...)
	if o.AddressRate != nil || o.AddressBurst != nil {
		f.RateLimit.PerAddress = o.addressRate(f.RateLimit.PerAddress)
	}
}

// addressRate is the per-address bucket from the file's (or the
// default's) with AddressRate and AddressBurst laid over it.
func (o Overrides) addressRate(file *Rate) *Rate {
	r := Rate{Rate: DefaultAddressRate, Burst: DefaultAddressBurst}
	if file != nil {
		r = *file
	}
	if o.AddressRate != nil {
		r.Rate = *o.AddressRate
	}
	if o.AddressBurst != nil {
		r.Burst = *o.AddressBurst
	}
	return &r
}
