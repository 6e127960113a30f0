package ec2api

// LocalZone returns the availability zone, name and id, where the
// one-machine run's network is made (endpoints.LocalPlace): the region's
// first zone.
func LocalZone(region string) (name, id string) {
	s := service{cfg: Config{Region: region}}
	name = s.zones()[0]
	return name, s.azID(name)
}
